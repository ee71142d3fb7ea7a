"""Vote-extension work per height at N validators, every one attesting the same events.

The three checks of one height, as the handlers run them (handlers/proposals.py):
PrepareProposal prunes the extended commit, tallies it and builds the attested tx;
ProcessProposal and FinalizeBlock each verify that tx. The reference is the raw
ed25519 verification of the same signatures, three times, through PyNaCl.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from nacl.signing import VerifyKey

from abci_app.devnet.relay_testing import (
    compute_commit_info,
    get_valset,
    make_event,
    make_extended_commit,
    make_validators,
)
from abci_app.relay.attested_tx import (
    build_attested_tx,
    compute_attested_fit,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.signbytes import (
    clear_extension_signature_cache,
    compute_vote_extension_sign_bytes,
)
from abci_app.relay.tally import (
    clear_decode_cache,
    compute_supporting_commit,
    prune_extended_commit,
    tally_attested,
)
from abci_app.relay.types import RelayView
from bench.harness import Figure, Report, Sizes, best_of

CHAIN_ID = "seqset-bench"
HEIGHT = 10  # the proposal's; votes are for HEIGHT - 1
EVENTS = 8
CHECKS_PER_HEIGHT = 3
TARGET_MS = {150: 20.0}
RUNS = 7


def make_scenario(n: int) -> tuple[Any, Any, list[Any]]:
    """(extended commit, the validators, their entries) with every vote attesting EVENTS."""
    params = RelayParams()
    validators = make_validators([10] * n, label="seqset-bench")
    extension = build_extension([make_event(i) for i in range(1, EVENTS + 1)], 0, params)
    commit = make_extended_commit(validators, dict.fromkeys(range(n), extension),
                                  HEIGHT - 1, CHAIN_ID)
    return commit, validators, get_valset(validators)


def run_height(commit: Any, valset: list[Any], proposed: Any = None) -> None:
    """One height's relay work; `proposed` is CometBFT's last commit (built here if None)."""
    params, view = RelayParams(), RelayView()
    clear_extension_signature_cache()  # each run is a fresh height: nothing cached
    clear_decode_cache()
    pruned = prune_extended_commit(commit, valset, HEIGHT - 1, CHAIN_ID, params)
    attested = tally_attested(pruned, valset, view, params)
    carried_commit, carried = pruned, compute_attested_fit(pruned, attested, params)
    if carried is None or carried.count_parts() < attested.count_parts():
        smaller = compute_supporting_commit(pruned, valset, attested, params)
        if smaller is not None:
            carried_commit = smaller
            carried = compute_attested_fit(smaller, tally_attested(smaller, valset, view, params),
                                           params)
    assert carried is not None and carried.events, "the bench commit must attest its events"
    tx = build_attested_tx(carried_commit, carried, params)
    assert tx is not None
    if proposed is None:
        proposed = compute_commit_info(carried_commit)
    for _ in range(CHECKS_PER_HEIGHT - 1):  # ProcessProposal, then FinalizeBlock
        verify_attested_tx(tx, proposed, valset, HEIGHT, CHAIN_ID, view, params)


def run_reference(commit: Any, validators: list[Any]) -> None:
    checks = [(VerifyKey(bytes(v.key.verify_key)),
               compute_vote_extension_sign_bytes(bytes(vote.vote_extension), HEIGHT - 1, 0,
                                                 CHAIN_ID), bytes(vote.extension_signature))
              for v, vote in zip(validators, commit.votes, strict=True)]
    for _ in range(CHECKS_PER_HEIGHT):
        for key, message, signature in checks:
            key.verify(message, signature)


def best_of_interleaved(
    runs: int, ours: Callable[[], object], reference: Callable[[], object]
) -> tuple[float, float]:
    """best_of each, alternating calls: a load spike from a neighbour hits both alike."""
    best_ours = best_reference = float("inf")
    for _ in range(runs):
        best_ours = min(best_ours, best_of(1, ours))
        best_reference = min(best_reference, best_of(1, reference))
    return best_ours, best_reference


def run(report: Report, sizes: Sizes) -> None:
    for n in sizes.vote_validators:
        commit, validators, valset = make_scenario(n)
        # CometBFT hands ProcessProposal and FinalizeBlock the commit without
        # extensions; pruning keeps every address, power and flag, so it is the same.
        proposed = compute_commit_info(commit)
        seconds, reference = best_of_interleaved(
            RUNS, partial(run_height, commit, valset, proposed),
            partial(run_reference, commit, validators))
        target = TARGET_MS.get(n)
        report.add(Figure("votes", f"vote-extension work, {n} validators, {EVENTS} events",
                          seconds * 1e3, "ms/height", reference * 1e3,
                          f"{CHECKS_PER_HEIGHT}x{n} raw ed25519 verifies (PyNaCl)",
                          f"<= {target:g} ms/height" if target else "",
                          None if target is None else seconds * 1e3 <= target,
                          higher_is_better=False, size=n))
