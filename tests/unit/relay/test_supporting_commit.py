"""When every validator's extension together overflows the injected tx, a 2/3 subset carries it."""

from abci_app.relay.attested_tx import build_attested_tx, verify_attested_tx
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import compute_supporting_commit, prune_extended_commit, tally_events
from abci_app.relay.types import Attested, RelayView

from .helpers import (
    CHAIN_ID,
    HEIGHT,
    HEIGHT_VOTED,
    compute_commit_info,
    get_valset,
    make_events,
    make_scenario,
)

# Small caps so that 12 full extensions overflow but 9 of them fit.
PARAMS = RelayParams(max_events_per_extension=8, max_extension_bytes=2048,
                     max_attested_tx_bytes=12 * 1024)


def test_a_too_large_commit_shrinks_to_a_verifiable_supermajority() -> None:
    events = make_events(1, 8)
    extension = build_extension(events, 0, PARAMS)
    validators, commit = make_scenario({i: extension for i in range(12)}, powers=[10] * 12)
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_events(pruned, valset, 0, PARAMS)
    assert len(attested) == 8
    # The whole commit overflows.
    assert build_attested_tx(pruned, Attested(events=tuple(attested)), PARAMS) is None

    smaller = compute_supporting_commit(pruned, valset, Attested(events=tuple(attested)), PARAMS)
    assert smaller is not None
    kept = [v for v in smaller.votes if v.vote_extension]
    assert len(kept) == 9  # the fewest equal-power votes above 2/3 of 120: 90
    tx = build_attested_tx(smaller, Attested(events=tuple(attested)), PARAMS)
    assert tx is not None
    applied = verify_attested_tx(tx, compute_commit_info(commit), valset, HEIGHT, CHAIN_ID,
                                 RelayView(), PARAMS).events
    assert [e.nonce for e in applied] == list(range(1, 9))


def test_no_subset_when_supporters_hold_two_thirds_or_less() -> None:
    events = make_events(1, 2)
    extension = build_extension(events, 0, PARAMS)
    validators, commit = make_scenario({0: extension, 1: extension}, powers=[10, 10, 10])
    attested = Attested(events=tuple(events))
    assert compute_supporting_commit(commit, get_valset(validators), attested, PARAMS) is None
