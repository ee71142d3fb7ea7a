"""Params: defaults, bounds, JSON and protobuf round trips, documented rounding."""

import pytest

from abci_app.chain.params import (
    Params,
    compute_max_missed_blocks,
    compute_params_from_json,
    compute_params_from_proto,
    compute_params_json,
    compute_params_proto,
)
from abci_app.errors import ParamsError


def test_defaults_match_the_brief() -> None:
    params = Params()
    assert (params.power_reduction, params.max_validators, params.rotation_timeout_s,
            params.signed_blocks_window, params.min_signed_bps, params.max_tx_bytes) == \
        (10**18, 100, 60, 100, 5000, 16384)


def test_json_and_proto_round_trip() -> None:
    params = Params(min_lock_wei=7 * 10**30, reward_per_l2_block_wei=3)
    assert compute_params_from_json(compute_params_json(params)) == params
    assert compute_params_from_proto(compute_params_proto(params)) == params


def test_wei_params_accept_decimal_strings() -> None:
    assert compute_params_from_json({"min_lock_wei": "5"}).min_lock_wei == 5


@pytest.mark.parametrize("value", ["007", "1e18", "-1", "", " 1"])
def test_invalid_non_canonical_decimal_is_rejected(value: str) -> None:
    with pytest.raises(ParamsError, match="min_lock_wei"):
        compute_params_from_json({"min_lock_wei": value})


def test_max_missed_blocks_rounds_in_validators_favour() -> None:
    # 7 * 3333 // 10000 = 2 signed required, so 5 may be missed
    assert compute_max_missed_blocks(Params(signed_blocks_window=7, min_signed_bps=3333)) == 5
    assert compute_max_missed_blocks(Params(signed_blocks_window=100, min_signed_bps=5000)) == 50


L2_HASH = "0x" + "ab" * 32


def test_l2_params_defaults_and_round_trip() -> None:
    params = Params()
    assert (params.l2_chain_id, params.l2_genesis_hash, params.l2_block_interval_ms,
            params.max_l2_headers_per_extension, params.producer_fault_slash_bps,
            params.producer_jail_s, params.seed_l1_delay_blocks) == (0, b"", 1000, 64, 10, 600, 16)
    registered = compute_params_from_json({"l2_chain_id": 901, "l2_genesis_hash": L2_HASH,
                                           "rotation_timeout_s": 1})
    assert registered.l2_genesis_hash == b"\xab" * 32
    assert compute_params_json(registered)["l2_genesis_hash"] == L2_HASH
    assert compute_params_from_json(compute_params_json(registered)) == registered
    assert compute_params_from_proto(compute_params_proto(registered)) == registered


@pytest.mark.parametrize(("doc", "field"), [
    ({"l2_chain_id": 901}, "l2_genesis_hash"),
    ({"l2_chain_id": 901, "l2_genesis_hash": "0x" + "ab" * 31}, "l2_genesis_hash"),
    ({"l2_chain_id": 901, "l2_genesis_hash": "ab" * 32}, "l2_genesis_hash"),
    ({"l2_chain_id": 901, "l2_genesis_hash": "0x" + "zz" * 32}, "l2_genesis_hash"),
    ({"l2_genesis_hash": L2_HASH}, "l2_genesis_hash"),
    ({"l2_genesis_hash": 5}, "l2_genesis_hash"),
    ({"l2_block_interval_ms": 49}, "l2_block_interval_ms"),
    ({"max_l2_headers_per_extension": 0}, "max_l2_headers_per_extension"),
    ({"seed_l1_delay_blocks": 0}, "seed_l1_delay_blocks"),
    ({"producer_fault_slash_bps": 10_001}, "producer_fault_slash_bps"),
    ({"rotation_timeout_s": 0}, "rotation_timeout_s"),
    ({"max_missed_productions": 3}, "max_missed_productions"),  # removed in issue 13
])
def test_invalid_l2_params_are_rejected(doc: dict[str, object], field: str) -> None:
    with pytest.raises(ParamsError, match=f"app_state.params.{field}"):
        compute_params_from_json(doc)
