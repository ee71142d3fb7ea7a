"""Property tests: attacker bytes never raise, honest proposals always verify."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.devnet.relay_testing import compute_commit_info, get_valset, make_attested_tx
from abci_app.relay.attested_tx import (
    ATTESTED_TX_PREFIX,
    InvalidAttestedTx,
    build_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension, decode_extension, verify_extension
from abci_app.relay.tally import is_supermajority, prune_extended_commit, tally_events

from .helpers import CHAIN_ID, HEIGHT, HEIGHT_VOTED, PARAMS, all_attest, make_events, make_scenario

EVENTS = make_events(1, 3)
VALIDATORS, COMMIT = make_scenario(all_attest(EVENTS))
VALSET = get_valset(VALIDATORS)
PROPOSED = compute_commit_info(COMMIT)
VALID_TX = build_attested_tx(COMMIT, EVENTS, PARAMS) or b""
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_attested(tx: bytes) -> list[Any] | str:
    """verify_attested_tx's answer: the events, or the rejection reason."""
    try:
        result = verify_attested_tx(tx, PROPOSED, VALSET, HEIGHT, CHAIN_ID, 0, PARAMS)
    except InvalidAttestedTx as exc:
        return exc.reason
    assert isinstance(result, list)
    return result


@FUZZ
@given(st.binary(max_size=4096))
def test_decode_and_verify_extension_never_raise_on_random_bytes(data: bytes) -> None:
    decoded = decode_extension(data, PARAMS)
    assert decoded is None or isinstance(decoded, list)
    assert verify_extension(data, PARAMS) is (decoded is not None)


@FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_verify_attested_tx_never_raises_on_random_bytes(data: bytes, prefixed: bool) -> None:
    tx = ATTESTED_TX_PREFIX + data if prefixed else data
    assert isinstance(check_attested(tx), str)


@FUZZ
@given(st.data())
def test_mutated_valid_tx_is_rejected_or_carries_a_prefix(data: st.DataObject) -> None:
    tx = bytearray(VALID_TX)
    position = data.draw(st.integers(0, len(tx) - 1))
    action = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    if action == "flip":
        tx[position] ^= data.draw(st.integers(1, 255))
    elif action == "truncate":
        del tx[position:]
    elif action == "insert":
        tx[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del tx[position]
    result = check_attested(bytes(tx))
    if isinstance(result, str):
        return
    # A cut at an event boundary is a valid tx applying fewer events (a proposer may
    # attest a prefix); canonical encoding leaves no other bytes that verify.
    assert result == EVENTS[:len(result)]
    assert bytes(tx) == VALID_TX or (action == "truncate" and len(result) < len(EVENTS))


@FUZZ
@given(st.data())
def test_mutated_vote_fields_never_raise(data: st.DataObject) -> None:
    commit = type(COMMIT)()
    commit.CopyFrom(COMMIT)
    vote = commit.votes[data.draw(st.integers(0, 3))]
    field = data.draw(st.sampled_from(["power", "address", "flag", "extension", "signature"]))
    if field == "power":
        vote.validator.power = data.draw(st.integers(-(2**63), 2**63 - 1))
    elif field == "address":
        vote.validator.address = data.draw(st.binary(max_size=32))
    elif field == "flag":
        vote.block_id_flag = data.draw(st.integers(0, 5))
    elif field == "extension":
        vote.vote_extension = data.draw(st.binary(max_size=256))
    else:
        vote.extension_signature = data.draw(st.binary(max_size=80))
    events = data.draw(st.lists(st.sampled_from(make_events(1, 4)), max_size=4))
    result = check_attested(make_attested_tx(commit, events))
    assert isinstance(result, str) or result == EVENTS[:len(result)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=7), st.data())
def test_honest_proposal_verifies_and_accepts_exactly_above_two_thirds(
    powers: list[int], data: st.DataObject
) -> None:
    attesting = data.draw(st.sets(st.integers(0, len(powers) - 1)))
    extension = build_extension(EVENTS, 0, PARAMS)
    validators, commit = make_scenario({i: extension for i in sorted(attesting)}, powers=powers)
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    events = tally_events(pruned, valset, 0, PARAMS)
    attested_power = sum(powers[i] for i in attesting)
    assert (events == EVENTS) is is_supermajority(attested_power, sum(powers))
    assert events in ([], EVENTS)
    tx = build_attested_tx(pruned, events, PARAMS)
    if tx is not None:
        assert verify_attested_tx(tx, compute_commit_info(commit), valset, HEIGHT, CHAIN_ID, 0,
                                  PARAMS) == EVENTS
