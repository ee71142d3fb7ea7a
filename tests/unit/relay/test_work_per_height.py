"""Repeated work per height is done once (issue 15): 150 validators carrying one
extension cost one encoding of each event, one set of sign bytes and one
decoding of the carried commit, not one per vote and per check.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from abci_app import pb
from abci_app.devnet.relay_testing import get_valset
from abci_app.relay import signbytes, votes
from abci_app.relay.attested_tx import build_attested_tx, compute_attested_fit, verify_attested_tx
from abci_app.relay.extension import build_extension
from abci_app.relay.tally import prune_extended_commit, tally_attested, tally_events
from abci_app.relay.types import RelayView

from .helpers import (
    CHAIN_ID,
    HEIGHT,
    HEIGHT_VOTED,
    PARAMS,
    all_attest,
    compute_commit_info,
    make_events,
    make_scenario,
)

VALIDATORS = 7
EVENTS = make_events(1, 3)


@pytest.fixture(autouse=True)
def fresh_height() -> Iterator[None]:
    """Nothing cached from another test: each test is a fresh height."""
    signbytes.clear_extension_signature_cache()
    votes.clear_decode_cache()
    yield
    signbytes.clear_extension_signature_cache()
    votes.clear_decode_cache()


def counting(monkeypatch: pytest.MonkeyPatch, target: str, real: Callable[..., Any],
             seen: list[Any], pick: Callable[..., Any]) -> None:
    def wrapper(*args: Any) -> Any:
        seen.append(pick(*args))
        return real(*args)

    monkeypatch.setattr(target, wrapper)


def run_height(commit: Any, validators: Any) -> None:
    """PrepareProposal's pruning and tally, then ProcessProposal and FinalizeBlock."""
    valset, view = get_valset(validators), RelayView()
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = compute_attested_fit(pruned, tally_attested(pruned, valset, view, PARAMS), PARAMS)
    assert attested is not None
    tx = build_attested_tx(pruned, attested, PARAMS)
    assert tx is not None
    proposed = compute_commit_info(pruned)
    for _ in range(2):
        assert len(verify_attested_tx(tx, proposed, valset, HEIGHT, CHAIN_ID, view,
                                      PARAMS).events) == len(EVENTS)


def test_the_tally_encodes_each_distinct_event_once_per_height(
        monkeypatch: pytest.MonkeyPatch) -> None:
    validators, commit = make_scenario(all_attest(EVENTS, n=VALIDATORS), [10] * VALIDATORS)
    encoded: list[bytes] = []
    for module in ("tally", "votes"):  # where the tally encodes what votes compare
        counting(monkeypatch, f"abci_app.relay.{module}.encode_message", votes.encode_message,
                 encoded, lambda message: message.SerializeToString(deterministic=True)
                 if isinstance(message, pb.events.L1Event) else None)
    run_height(commit, validators)
    counts = Counter(item for item in encoded if item is not None)
    assert sorted(counts.values()) == [1] * len(EVENTS), "one encoding per distinct event"


def test_sign_bytes_are_built_once_per_distinct_extension(
        monkeypatch: pytest.MonkeyPatch) -> None:
    extension = build_extension(EVENTS, 0, PARAMS)
    other = build_extension(EVENTS[:1], 0, PARAMS)
    carried = {index: extension for index in range(VALIDATORS)} | {0: other}
    validators, commit = make_scenario(carried, [10] * VALIDATORS)
    built: list[bytes] = []
    counting(monkeypatch, "abci_app.relay.signbytes.compute_vote_extension_sign_bytes",
             signbytes.compute_vote_extension_sign_bytes, built, lambda ext, *rest: ext)
    pruned = prune_extended_commit(commit, get_valset(validators), HEIGHT_VOTED, CHAIN_ID,
                                   PARAMS)
    assert sorted(built) == sorted([extension, other])
    assert all(vote.vote_extension for vote in pruned.votes), "every signature still checked"


def test_process_and_finalize_decode_the_carried_commit_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    validators, commit = make_scenario(all_attest(EVENTS, n=VALIDATORS), [10] * VALIDATORS)
    decoded: list[Any] = []
    counting(monkeypatch, "abci_app.relay.votes.decode_canonical", votes.decode_canonical,
             decoded, lambda message_cls, data: message_cls)
    run_height(commit, validators)
    assert decoded == [pb.abci.ExtendedCommitInfo]


def test_identical_extensions_count_together_and_apart_alike() -> None:
    # 4 carry 1..3, 2 carry 1..2, 1 carries 1..4: 1..2 have 7/7, 3 has 5/7, 4 has 1/7.
    long, short, longest = (build_extension(make_events(1, count), 0, PARAMS)
                            for count in (3, 2, 4))
    carried = {0: long, 1: short, 2: long, 3: longest, 4: long, 5: short, 6: long}
    validators, commit = make_scenario(carried, [10] * VALIDATORS)
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    assert [int(e.nonce) for e in tally_events(pruned, valset, 0, PARAMS)] == [1, 2, 3]
    # One long-carrier fewer: 3 is left with 4/7 = 40 of 70, not above 2/3.
    carried[6] = short
    validators, commit = make_scenario(carried, [10] * VALIDATORS)
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    assert [int(e.nonce) for e in tally_events(pruned, valset, 0, PARAMS)] == [1, 2]


def test_batched_signature_checks_answer_like_single_ones() -> None:
    validators, commit = make_scenario({0: b"a", 1: b"a", 2: b"b"}, [10, 10, 10])
    keys = [validator.entry.pub_key for validator in validators]
    signatures = [bytes(vote.extension_signature) for vote in commit.votes]
    checks = [(keys[0], signatures[0], b"a"), (keys[1], signatures[1], b"a"),
              (keys[2], signatures[2], b"b"), (keys[0], signatures[1], b"a"),
              (keys[2], signatures[2], b"a"), (keys[0], b"short", b"a"),
              (keys[0], signatures[0], b"a")]
    batched = signbytes.verify_extension_signatures(checks, HEIGHT_VOTED, 0, CHAIN_ID)
    signbytes.clear_extension_signature_cache()
    single = [signbytes.verify_extension_signature(*check, HEIGHT_VOTED, 0, CHAIN_ID)
              for check in checks]
    assert batched == single == [True, True, True, False, False, False, True]


@pytest.mark.parametrize(("extension", "height", "round", "chain_id"), [
    (b"", 1, 0, "c"), (b"x", 0, 0, ""), (b"x" * 127, 5, 1, "seqset"),
    (b"y" * 128, 2**63 - 1, -1, "seqset"), (b"z" * 20000, 7, 2**31, "long-" * 40),
    (b"\x00", -5, 3, "c")])
def test_sign_bytes_equal_the_protobuf_encoding(
        extension: bytes, height: int, round: int, chain_id: str) -> None:
    body = pb.canonical.CanonicalVoteExtension(
        extension=extension, height=height, round=round, chain_id=chain_id,
    ).SerializeToString(deterministic=True)
    expected = signbytes.encode_uvarint(len(body)) + body
    assert signbytes.compute_vote_extension_sign_bytes(extension, height, round,
                                                       chain_id) == expected
