"""Genesis: validation with one clear line per field, and export that restores the app hash."""

import json
from typing import Any

import pytest

from abci_app import chain, pb
from abci_app.chain.params import Params
from abci_app.chain.state import get_chain_state, get_totals
from abci_app.errors import GenesisError, ParamsError
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    SETTLEMENT_PARAMS,
    compute_app_hash,
    consensus_address,
    consensus_pubkey,
    genesis_sequencer,
    l1_event,
    l1_locked,
    make_chain,
    make_driver,
    make_l2_driver,
    signer_address,
)


def _init(doc: Any) -> list[chain.ValidatorUpdate]:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return chain.init_chain(MemoryKV(), raw, CHAIN_ID, GENESIS_TIME_NS, 1)


def _app_state(**overrides: Any) -> dict[str, Any]:
    doc = chain.make_genesis_app_state([genesis_sequencer(1, 10 * ETH)])
    doc.update(overrides)
    return doc


def test_genesis_returns_full_initial_validator_set() -> None:
    updates = _init(chain.make_genesis_app_state(
        [genesis_sequencer(1, 10 * ETH), genesis_sequencer(2, 3 * ETH)]))
    assert updates == [chain.ValidatorUpdate(consensus_pubkey(1), 10),
                       chain.ValidatorUpdate(consensus_pubkey(2), 3)]


def test_missing_params_take_documented_defaults() -> None:
    kv = MemoryKV()
    doc = {"sequencers": _app_state()["sequencers"]}
    chain.init_chain(kv, json.dumps(doc).encode(), CHAIN_ID, GENESIS_TIME_NS, 1)
    assert chain.get_params(kv) == Params()


def test_genesis_records_totals_and_chain_state() -> None:
    kv = MemoryKV()
    chain.init_chain(kv, json.dumps(_app_state(last_l1_nonce=7)).encode(), CHAIN_ID,
                     GENESIS_TIME_NS, 5)
    assert get_totals(kv)["total_locked_ever_wei"] == 10 * ETH
    assert get_chain_state(kv).last_height == 4
    assert chain.get_last_applied_l1_nonce(kv) == 7
    assert chain.get_validator_set(kv, 5)[0].sequencer_id == 1


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["sequencers"][0].update(owner="0x1234"), "sequencers[0].owner"),
    (lambda d: d["sequencers"][0].update(signer=None), "sequencers[0].signer"),
    (lambda d: d["sequencers"][0].update(consensus_pubkey="AAAA"), "consensus_pubkey"),
    (lambda d: d["sequencers"][0].update(locked_wei="1.5"), "sequencers[0].locked_wei"),
    (lambda d: d["sequencers"][0].update(locked_wei="1"), "sequencers[0].locked_wei"),
    (lambda d: d["sequencers"][0].update(id=0), "sequencers[0].id"),
    (lambda d: d["sequencers"][0].update(colour="red"), "sequencers[0].colour"),
    (lambda d: d["sequencers"][0].pop("locked_wei"), "sequencers[0].locked_wei"),
    (lambda d: d["sequencers"][0].update(status="sleeping"), "sequencers[0].status"),
    (lambda d: d["sequencers"].append(dict(d["sequencers"][0])), "sequencers[1].id"),
    (lambda d: d.update(sequencers=[]), "validator set would be empty"),
    (lambda d: d.update(extra=1), "app_state.extra"),
    (lambda d: d.update(last_l1_nonce=-1), "app_state.last_l1_nonce"),
    (lambda d: d.update(l1_confirmed_height="1"), "app_state.l1_confirmed_height"),
    (lambda d: d.update(state={"chain": {"bogus": 1}}), "app_state.state"),
])
def test_invalid_genesis_field_is_named(mutate: Any, field: str) -> None:
    doc = _app_state()
    mutate(doc)
    with pytest.raises(GenesisError) as info:
        _init(doc)
    assert field in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("params", "field"), [
    ({"min_signed_bps": 10_001}, "min_signed_bps"),
    ({"downtime_slash_bps": -1}, "downtime_slash_bps"),
    ({"double_sign_slash_bps": 1.5}, "double_sign_slash_bps"),
    ({"power_reduction": 0}, "power_reduction"),
    ({"epoch_length": "ten"}, "epoch_length"),
    ({"max_tx_bytes": True}, "max_tx_bytes"),
    ({"max_validatorz": 3}, "max_validatorz"),
])
def test_invalid_params_are_rejected(params: dict[str, Any], field: str) -> None:
    doc = _app_state()
    doc["params"].update(params)
    with pytest.raises(ParamsError) as info:
        _init(doc)
    assert f"app_state.params.{field}" in str(info.value)


def test_genesis_l1_confirmed_height_names_epoch_twos_seed_block() -> None:
    kv = MemoryKV()
    doc = chain.make_genesis_app_state(
        [genesis_sequencer(1, 10 * ETH)],
        {"l2_chain_id": 901, "l2_genesis_hash": "0x" + "11" * 32}, l1_confirmed_height=500)
    chain.init_chain(kv, json.dumps(doc).encode(), CHAIN_ID, GENESIS_TIME_NS, 1)
    assert chain.get_attested_l1_height(kv) == 500
    assert chain.get_seed_request(kv) == 516


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(GenesisError, match="not valid JSON"):
        _init(b"{not json")


def test_export_then_init_reproduces_the_same_app_hash() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH, 30 * ETH])
    driver.block(produce=10, producers={3: signer_address(2)}, l1_confirmed_height=30,
                 seed_randomness=pb.l2.L1Randomness(l1_height=16, mix_hash=b"\x05" * 32))
    driver.block(advance_ns=61 * 10**9)  # a producer fault: producer_jailed_until_ns is set
    driver.block(l1_events=[
        l1_locked(1, 4, 5 * ETH),
        l1_event(2, "withdrawal_requested", sequencer_id=4, amount_wei=str(2 * ETH)),
        l1_event(3, "released", sequencer_id=4, to=b"\x01" * 20, amount_wei="1"),
    ])
    for _ in range(3):
        driver.block()
    exported = json.loads(json.dumps(chain.export_genesis(driver.kv, CHAIN_ID)))
    restored = MemoryKV()
    updates = chain.init_chain(restored, json.dumps(exported).encode(), CHAIN_ID, 0,
                               driver.height + 1)
    assert compute_app_hash(restored) == compute_app_hash(driver.kv)
    assert restored.items() == driver.kv.items()
    assert exported["params"]["l2_genesis_hash"].startswith("0x")
    assert exported["l1_confirmed_height"] == 30
    assert {u.pub_key for u in updates} == {e.pub_key for e in
                                            chain.get_validator_set(driver.kv, driver.height + 1)}


def test_invalid_exported_state_with_broken_totals_is_rejected() -> None:
    driver = make_driver([10 * ETH])
    driver.block()
    exported = chain.export_genesis(driver.kv, CHAIN_ID)
    exported["state"]["totals"]["total_locked_ever_wei"] = str(11 * ETH)
    with pytest.raises(GenesisError, match="total_locked_ever_wei"):
        _init(exported)


def test_genesis_params_carry_the_lock_params_l1_holds() -> None:
    # What `genesis from-l1` writes: min lock, max lock and delay as the contract holds them
    lock = {"min_lock_wei": str(100 * ETH), "max_lock_wei": str(1000 * ETH),
            "withdrawal_delay_s": 200, "evidence_max_age_s": 200}
    kv = make_chain([100 * ETH], **lock)
    answer = chain.decode_query_value("/params", chain.query(kv, "/params", b"", 0).value)
    assert (answer.params.min_lock_wei, answer.params.max_lock_wei,
            answer.params.withdrawal_delay_s) == (str(100 * ETH), str(1000 * ETH), 200)
    exported = chain.export_genesis(kv, CHAIN_ID)["params"]
    assert isinstance(exported, dict) and exported["max_lock_wei"] == str(1000 * ETH)


def _export_with_a_batched_and_an_unbatched_slash() -> dict[str, Any]:
    driver = make_driver([100 * ETH] * 3, **SETTLEMENT_PARAMS)
    for index in (3, 2):  # the first is batched (in flight), the second waits for it
        driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(index),
                                                    driver.height, 0, 300)])
        while chain.get_pending_settlement(driver.kv) is None:
            driver.block()
    for _ in range(3):  # no validator-set change pending
        driver.block()
    exported: dict[str, Any] = json.loads(json.dumps(chain.export_genesis(driver.kv, CHAIN_ID)))
    assert [bool(s.get("batch_nonce")) for s in exported["state"]["slashes"]] == [True, False]
    _init(exported)  # as exported: accepted
    return exported


def test_exported_slashes_in_no_batch_must_follow_every_batched_one() -> None:
    exported = _export_with_a_batched_and_an_unbatched_slash()
    first, second = exported["state"]["slashes"]
    first["batch_nonce"], second["batch_nonce"] = second.get("batch_nonce", 0), first["batch_nonce"]
    with pytest.raises(GenesisError, match="slash 1 is in no batch but a later slash is"):
        _init(exported)


@pytest.mark.parametrize("next_slash_id", [2, 4])
def test_exported_next_slash_id_must_follow_the_last_slash(next_slash_id: int) -> None:
    exported = _export_with_a_batched_and_an_unbatched_slash()
    exported["state"]["chain"]["next_slash_id"] = next_slash_id
    with pytest.raises(GenesisError, match="next_slash_id must be 3"):
        _init(exported)


def test_exported_slash_ids_must_have_no_gap() -> None:
    exported = _export_with_a_batched_and_an_unbatched_slash()
    exported["state"]["slashes"][1]["id"] = 3
    exported["state"]["chain"]["next_slash_id"] = 4
    with pytest.raises(GenesisError, match="ids must run 1..2 with no gap"):
        _init(exported)
