"""Nothing an attacker sends raises out of check_tx or finalize_block."""

from typing import Any

from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app import chain, pb
from abci_app.chain.seeds import MAX_L1_HEIGHT
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    L2_GENESIS_HASH,
    make_driver,
    make_l2_driver,
    make_unjail_tx,
)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400))
def test_random_bytes_get_a_code_from_check_tx(raw: bytes) -> None:
    driver = make_driver([10 * ETH])
    assert chain.check_tx(driver.kv, raw, CHAIN_ID).code != 0


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, 10_000), value=st.integers(0, 255))
def test_mutated_signed_tx_never_raises(position: int, value: int) -> None:
    driver = make_driver([10 * ETH])
    raw = bytearray(make_unjail_tx(1, 0, 1))
    raw[position % len(raw)] = value
    outcome = driver.block(txs=[bytes(raw)])
    assert len(outcome.tx_results) == 1


def _l1_event_from(raw: bytes, nonce: int) -> Any:
    event = pb.events.L1Event()
    try:
        event.ParseFromString(raw)
    except DecodeError:
        return pb.events.L1Event(nonce=nonce)
    event.nonce = nonce
    return event


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=200), max_size=4),
       kind=st.sampled_from(["locked", "lock_increased", "withdrawal_requested",
                             "unlock_initiated", "released", "rewards_claimed",
                             "signer_changed"]),
       amount=st.text(max_size=90), seq_id=st.integers(0, 2**64 - 1))
def test_malformed_attested_events_are_noops_never_exceptions(
    payloads: list[bytes], kind: str, amount: str, seq_id: int
) -> None:
    driver = make_driver([10 * ETH])
    events = [_l1_event_from(raw, i + 1) for i, raw in enumerate(payloads)]
    crafted = pb.events.L1Event(nonce=len(events) + 1)
    sub = getattr(crafted, kind)
    sub.sequencer_id = seq_id
    if hasattr(sub, "amount_wei"):
        sub.amount_wei = amount
    events.append(crafted)
    outcome = driver.block(l1_events=events)
    assert len(outcome.l1_results) == len(events)
    assert chain.get_last_applied_l1_nonce(driver.kv) == len(events)


_hashes = st.one_of(st.just(L2_GENESIS_HASH), st.binary(max_size=40))


@settings(max_examples=200, deadline=None)
@given(headers=st.lists(st.builds(
    lambda h, a, b, p: pb.l2.L2Header(height=h, hash=a, parent_hash=b, producer=p),
    st.integers(0, 2**64 - 1), _hashes, _hashes, st.binary(max_size=24)), max_size=5),
       l1_height=st.integers(0, 2**64 - 1), mix=st.binary(max_size=40),
       confirmed=st.integers(0, 2**63 - 1), registered=st.booleans())
def test_malformed_attested_l2_input_never_raises(
    headers: list[Any], l1_height: int, mix: bytes, confirmed: int, registered: bool
) -> None:
    driver = make_l2_driver([10 * ETH]) if registered else make_driver([10 * ETH])
    driver.block(l2_headers=headers, l1_confirmed_height=confirmed,
                 seed_randomness=pb.l2.L1Randomness(l1_height=l1_height, mix_hash=mix))
    # From 0, any height up to MAX_L1_HEIGHT is kept; a larger one is ignored (seeds.py)
    assert chain.get_attested_l1_height(driver.kv) == (confirmed if confirmed <= MAX_L1_HEIGHT
                                                       else 0)
