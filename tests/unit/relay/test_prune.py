"""Pruning local_last_commit: late precommits never passed VerifyVoteExtension."""

from typing import Any

from abci_app.devnet.relay_testing import (
    BLOCK_ID_FLAG_ABSENT,
    BLOCK_ID_FLAG_NIL,
    LocalValidator,
    get_valset,
    make_event,
    sign_extension,
)
from abci_app.relay.codec import VoteExtension, encode_message
from abci_app.relay.extension import build_extension
from abci_app.relay.tally import prune_extended_commit, tally_events

from .helpers import CHAIN_ID, HEIGHT_VOTED, PARAMS, make_events, make_scenario


def _prune(commit: Any, validators: list[LocalValidator]) -> Any:
    return prune_extended_commit(commit, get_valset(validators), HEIGHT_VOTED, CHAIN_ID, PARAMS)


def test_prune_keeps_valid_extensions_unchanged() -> None:
    extension = build_extension(make_events(1, 2), 0, PARAMS)
    validators, commit = make_scenario({0: extension, 1: extension, 2: extension})
    assert _prune(commit, validators) == commit


def test_prune_clears_bad_signature_and_keeps_the_rest() -> None:
    extension = build_extension(make_events(1, 2), 0, PARAMS)
    validators, commit = make_scenario({i: extension for i in range(4)})
    commit.votes[1].extension_signature = sign_extension(
        validators[1].key, extension, HEIGHT_VOTED + 1, 0, CHAIN_ID)
    pruned = _prune(commit, validators)
    assert [v.block_id_flag for v in pruned.votes] == [v.block_id_flag for v in commit.votes]
    assert [v.validator for v in pruned.votes] == [v.validator for v in commit.votes]
    assert pruned.votes[1].vote_extension == b"" and pruned.votes[1].extension_signature == b""
    for index in (0, 2, 3):
        assert pruned.votes[index] == commit.votes[index]
    assert len(tally_events(pruned, get_valset(validators), 0, PARAMS)) == 2


def test_prune_clears_signed_but_malformed_extension() -> None:
    good = build_extension(make_events(1, 1), 0, PARAMS)
    malformed = encode_message(VoteExtension(events=[make_event(2), make_event(1)]))
    validators, commit = make_scenario({0: good, 1: malformed, 2: good})
    pruned = _prune(commit, validators)
    assert pruned.votes[1].vote_extension == b""
    assert pruned.votes[0] == commit.votes[0] and pruned.votes[2] == commit.votes[2]


def test_prune_clears_extension_data_on_non_commit_votes() -> None:
    extension = build_extension(make_events(1, 1), 0, PARAMS)
    validators, commit = make_scenario({0: extension}, flags={2: BLOCK_ID_FLAG_NIL,
                                                             3: BLOCK_ID_FLAG_ABSENT})
    commit.votes[2].vote_extension = extension
    commit.votes[2].extension_signature = commit.votes[0].extension_signature
    pruned = _prune(commit, validators)
    assert pruned.votes[2].vote_extension == b"" and pruned.votes[2].extension_signature == b""
    assert pruned.votes[2].block_id_flag == BLOCK_ID_FLAG_NIL


def test_prune_clears_extension_of_unknown_validator() -> None:
    extension = build_extension(make_events(1, 1), 0, PARAMS)
    validators, commit = make_scenario({0: extension})
    pruned = prune_extended_commit(commit, get_valset(validators)[1:], HEIGHT_VOTED, CHAIN_ID,
                                   PARAMS)
    assert pruned.votes[0].vote_extension == b""
