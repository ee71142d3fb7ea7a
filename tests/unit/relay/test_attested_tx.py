"""The injected attested-events tx: honest proposals pass, crafted ones are rejected."""

from typing import Any

import pytest

from abci_app.devnet.relay_testing import (
    BLOCK_ID_FLAG_ABSENT,
    BLOCK_ID_FLAG_COMMIT,
    LocalValidator,
    compute_commit_info,
    get_valset,
    make_attested_tx,
    make_event,
    sign_extension,
)
from abci_app.relay.attested_tx import (
    ATTESTED_TX_PREFIX,
    InvalidAttestedTx,
    build_attested_tx,
    decode_attested_tx,
    find_misplaced_attested_tx,
    is_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.codec import encode_message
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import prune_extended_commit, tally_attested
from abci_app.relay.types import Attested, RelayView

from .helpers import CHAIN_ID, HEIGHT, HEIGHT_VOTED, PARAMS, all_attest, make_events, make_scenario

EVENTS = make_events(1, 3)


def propose(commit: Any, validators: list[LocalValidator], last_applied: int = 0,
            params: RelayParams = PARAMS) -> bytes:
    """What an honest proposer injects for `commit`."""
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, params)
    attested = tally_attested(pruned, valset, RelayView(last_applied_nonce=last_applied), params)
    tx = build_attested_tx(pruned, attested, params)
    assert tx is not None
    return tx


def verify(tx: bytes, proposed: Any, validators: list[LocalValidator], last_applied: int = 0,
           params: RelayParams = PARAMS) -> list[Any]:
    """The events verify_attested_tx accepts (the L1 events-only view)."""
    attested = verify_attested_tx(tx, proposed, get_valset(validators), HEIGHT, CHAIN_ID,
                                  RelayView(last_applied_nonce=last_applied), params)
    return list(attested.events)


forge = make_attested_tx


def honest() -> tuple[list[LocalValidator], Any]:
    """Validators 0-2 attest EVENTS, validator 3 was absent."""
    extensions = all_attest(EVENTS, n=3)
    return make_scenario(extensions, flags={3: BLOCK_ID_FLAG_ABSENT})


def test_valid_proposal_is_accepted() -> None:
    validators, commit = honest()
    tx = propose(commit, validators)
    assert is_attested_tx(tx)
    assert verify(tx, compute_commit_info(commit), validators) == EVENTS


def test_valid_proposal_with_pruned_vote_is_accepted() -> None:
    extensions = all_attest(EVENTS)
    validators, commit = make_scenario(extensions)
    commit.votes[2].extension_signature = b"\x00" * 64  # a late, never-verified precommit
    tx = propose(commit, validators)
    assert verify(tx, compute_commit_info(commit), validators) == EVENTS


def test_valid_proposal_with_fewer_events_than_attested_is_accepted() -> None:
    validators, commit = honest()
    tx = forge(commit, EVENTS[:2])
    assert verify(tx, compute_commit_info(commit), validators) == EVENTS[:2]


def test_build_returns_none_without_anything_attested() -> None:
    validators, commit = honest()
    assert build_attested_tx(commit, Attested(), PARAMS) is None


def test_build_drops_events_to_fit_the_cap_but_keeps_the_commit() -> None:
    events = make_events(1, 60)
    validators, commit = make_scenario(all_attest(events, n=3), flags={3: BLOCK_ID_FLAG_ABSENT})
    full = propose(commit, validators)
    params = RelayParams(max_attested_tx_bytes=len(full) - 1)
    smaller = propose(commit, validators, params=params)
    body = decode_attested_tx(smaller)
    assert body is not None
    assert len(smaller) <= params.max_attested_tx_bytes
    assert 0 < len(body.events) < 60
    assert body.extended_commit_info == encode_message(commit)
    assert verify(smaller, compute_commit_info(commit), validators, params=params) == list(
        body.events)


def test_invalid_duplicated_extension_faking_two_thirds_is_rejected() -> None:
    # Only validators 0 and 1 attest (20 of 40); the proposer repeats vote 0 over vote 2.
    extensions = all_attest(EVENTS, n=2)
    validators, commit = make_scenario(extensions)
    commit.votes[2].CopyFrom(commit.votes[0])
    with pytest.raises(InvalidAttestedTx):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators)


def test_invalid_tampered_voting_power_is_rejected() -> None:
    extensions = all_attest(EVENTS, n=2)
    validators, commit = make_scenario(extensions)
    commit.votes[0].validator.power = 100
    # Even when CometBFT's view were tampered identically, our stored power decides.
    with pytest.raises(InvalidAttestedTx, match="power|stored validator set"):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators)
    honest_info = compute_commit_info(make_scenario(extensions)[1])
    with pytest.raises(InvalidAttestedTx, match="power"):
        verify(forge(commit, EVENTS), honest_info, validators)


def test_invalid_omitted_validator_is_rejected() -> None:
    validators, commit = honest()
    proposed = compute_commit_info(commit)
    del commit.votes[1]
    with pytest.raises(InvalidAttestedTx, match="votes"):
        verify(forge(commit, EVENTS), proposed, validators)


def test_invalid_absent_flag_changed_to_commit_is_rejected() -> None:
    validators, commit = honest()
    proposed = compute_commit_info(commit)
    extension = build_extension(EVENTS, 0, PARAMS)
    commit.votes[3].block_id_flag = BLOCK_ID_FLAG_COMMIT
    commit.votes[3].vote_extension = extension
    commit.votes[3].extension_signature = sign_extension(validators[3].key, extension,
                                                         HEIGHT_VOTED, 0, CHAIN_ID)
    with pytest.raises(InvalidAttestedTx, match="block_id_flag"):
        verify(forge(commit, EVENTS), proposed, validators)


def test_invalid_extension_signature_is_rejected() -> None:
    validators, commit = honest()
    commit.votes[0].extension_signature = sign_extension(
        validators[1].key, commit.votes[0].vote_extension, HEIGHT_VOTED, 0, CHAIN_ID)
    with pytest.raises(InvalidAttestedTx, match="signature"):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators)


def test_invalid_event_not_in_any_extension_is_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx, match="attested"):
        verify(forge(commit, EVENTS + [make_event(4)]), compute_commit_info(commit), validators)


def test_invalid_event_when_votes_attest_nothing_is_rejected() -> None:
    validators, commit = make_scenario({})
    with pytest.raises(InvalidAttestedTx, match="attested"):
        verify(forge(commit, EVENTS[:1]), compute_commit_info(commit), validators)


def test_invalid_altered_amount_is_rejected() -> None:
    validators, commit = honest()
    altered = [EVENTS[0], make_event(2, amount_wei=10**18 + 1), EVENTS[2]]
    with pytest.raises(InvalidAttestedTx, match="events #1"):
        verify(forge(commit, altered), compute_commit_info(commit), validators)


def test_invalid_nonce_gap_is_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx):
        verify(forge(commit, [EVENTS[0], EVENTS[2]]), compute_commit_info(commit), validators)
    # Events already applied cannot be replayed either.
    with pytest.raises(InvalidAttestedTx):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators, last_applied=1)


def test_invalid_tx_over_size_cap_is_rejected() -> None:
    validators, commit = honest()
    tx = propose(commit, validators)
    params = RelayParams(max_extension_bytes=1024, max_attested_tx_bytes=len(tx) - 1)
    with pytest.raises(InvalidAttestedTx, match="max_attested_tx_bytes"):
        verify(tx, compute_commit_info(commit), validators, params=params)


def test_invalid_empty_event_list_is_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx, match="nothing attested"):
        verify(forge(commit, []), compute_commit_info(commit), validators)


def test_invalid_round_or_vote_order_is_rejected() -> None:
    validators, commit = honest()
    proposed = compute_commit_info(commit)
    proposed.round = 1
    with pytest.raises(InvalidAttestedTx, match="round"):
        verify(forge(commit, EVENTS), proposed, validators)
    proposed = compute_commit_info(commit)
    swapped = type(commit)()
    swapped.CopyFrom(commit)
    swapped.votes[0].CopyFrom(commit.votes[1])
    swapped.votes[1].CopyFrom(commit.votes[0])
    with pytest.raises(InvalidAttestedTx, match="address"):
        verify(forge(swapped, EVENTS), proposed, validators)


def test_invalid_extension_on_non_commit_vote_is_rejected() -> None:
    validators, commit = honest()
    commit.votes[3].vote_extension = commit.votes[0].vote_extension
    with pytest.raises(InvalidAttestedTx, match="vote 3"):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators)


def test_invalid_validator_not_in_stored_set_is_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx, match="stored validator set"):
        verify(forge(commit, EVENTS), compute_commit_info(commit), validators[:3])


def test_invalid_non_canonical_encoding_is_rejected() -> None:
    validators, commit = honest()
    tx = propose(commit, validators)
    with pytest.raises(InvalidAttestedTx, match="canonical"):
        verify(tx + b"\x18\x01", compute_commit_info(commit), validators)
    with pytest.raises(InvalidAttestedTx, match="canonical"):
        verify(ATTESTED_TX_PREFIX + b"\xff", compute_commit_info(commit), validators)


def test_a_bug_propagates_so_finalize_block_can_halt(monkeypatch: pytest.MonkeyPatch) -> None:
    validators, commit = honest()
    tx = propose(commit, validators)

    def broken(*args: object) -> list[Any]:
        raise KeyError("bug")

    monkeypatch.setattr("abci_app.relay.attested_tx.tally_attested", broken)
    # Not InvalidAttestedTx: a node that hits a bug must halt, not skip the events.
    with pytest.raises(KeyError):
        verify(tx, compute_commit_info(commit), validators)


def test_misplaced_attested_tx_is_found() -> None:
    assert find_misplaced_attested_tx([b"user", ATTESTED_TX_PREFIX + b"x"])
    assert not find_misplaced_attested_tx([b"user", b"\x00seqset"])
    assert not find_misplaced_attested_tx([])
