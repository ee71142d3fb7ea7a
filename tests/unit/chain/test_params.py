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


# --- settlement (issue 14) -------------------------------------------------------------


def test_withdrawal_delay_shorter_than_evidence_window_is_refused() -> None:
    # The old default: 24 h of delay against CometBFT's 48 h of evidence
    with pytest.raises(ParamsError) as caught:
        compute_params_from_json({"withdrawal_delay_s": 86_400, "evidence_max_age_s": 172_800})
    message = str(caught.value)
    assert "withdrawal_delay_s" in message and "86400" in message
    assert "evidence_max_age_s" in message and "172800" in message


def test_default_delay_outlasts_the_default_evidence_window() -> None:
    params = compute_params_from_json({})
    assert params.withdrawal_delay_s >= params.evidence_max_age_s == 172_800


def test_settlement_params_round_trip() -> None:
    doc = {"l1_chain_id": 31337, "l1_contract_address": "0x" + "ab" * 20,
           "settlement_interval_blocks": 5, "max_settlement_items": 7,
           "min_lock_wei": "100", "max_lock_wei": "1000"}
    params = compute_params_from_json(doc)
    assert (params.l1_chain_id, params.l1_contract_address, params.max_lock_wei) == \
        (31337, b"\xab" * 20, 1000)
    assert compute_params_json(params)["max_lock_wei"] == "1000"
    assert compute_params_from_json(compute_params_json(params)) == params
    assert compute_params_from_proto(compute_params_proto(params)) == params


@pytest.mark.parametrize(("doc", "field"), [
    ({"l1_chain_id": 1}, "l1_contract_address"),
    ({"l1_contract_address": "0x" + "ab" * 20}, "l1_contract_address"),
    ({"l1_chain_id": 1, "l1_contract_address": "0xabcd"}, "l1_contract_address"),
    ({"min_lock_wei": "5", "max_lock_wei": "4"}, "min_lock_wei"),
    ({"settlement_interval_blocks": 0}, "settlement_interval_blocks"),
    ({"max_settlement_items": 0}, "max_settlement_items"),
])
def test_invalid_settlement_params_are_rejected(doc: dict[str, object], field: str) -> None:
    with pytest.raises(ParamsError, match=field):
        compute_params_from_json(doc)
