"""Tallying attested L1 events: more than 2/3 of the stored power, byte for byte."""

from abci_app.devnet.relay_testing import get_valset
from abci_app.relay.extension import build_extension
from abci_app.relay.tally import is_supermajority, tally_events

from .helpers import PARAMS, all_attest, make_events, make_scenario


def test_exactly_two_thirds_is_not_enough() -> None:
    assert not is_supermajority(2, 3)
    assert not is_supermajority(20, 30)
    assert is_supermajority(21, 30)
    # Two of three equal validators hold exactly 2/3 of the power.
    events = make_events(1, 2)
    extension = build_extension(events, 0, PARAMS)
    validators, commit = make_scenario({0: extension, 1: extension}, powers=[10, 10, 10])
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == []


def test_more_than_two_thirds_accepts_events() -> None:
    events = make_events(1, 3)
    extension = build_extension(events, 0, PARAMS)
    validators, commit = make_scenario({0: extension, 1: extension, 2: extension})
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == events


def test_events_must_be_byte_identical_to_count_together() -> None:
    events = make_events(1, 1)
    altered = make_events(1, 1, amount_wei=10**18 + 1)
    ours = build_extension(events, 0, PARAMS)
    theirs = build_extension(altered, 0, PARAMS)
    validators, commit = make_scenario({0: ours, 1: ours, 2: theirs, 3: theirs})
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == []
    validators, commit = make_scenario({0: ours, 1: ours, 2: ours, 3: theirs})
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == events


def test_tally_stops_at_first_nonce_without_supermajority() -> None:
    long = build_extension(make_events(1, 5), 0, PARAMS)
    short = build_extension(make_events(1, 2), 0, PARAMS)
    validators, commit = make_scenario({0: long, 1: long, 2: short, 3: short})
    assert [e.nonce for e in tally_events(commit, get_valset(validators), 0, PARAMS)] == [1, 2]


def test_tally_starts_after_last_applied_and_counts_overlapping_windows() -> None:
    from_one = build_extension(make_events(1, 5), 0, PARAMS)
    from_three = build_extension(make_events(3, 4), 2, PARAMS)
    validators, commit = make_scenario({0: from_one, 1: from_one, 2: from_three, 3: from_three})
    valset = get_valset(validators)
    assert [e.nonce for e in tally_events(commit, valset, 2, PARAMS)] == [3, 4, 5]
    # Nonces 1-2 have only half the power: nothing from 1 on.
    assert tally_events(commit, valset, 0, PARAMS) == []


def test_tally_with_no_extensions_is_empty() -> None:
    validators, commit = make_scenario({})
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == []


def test_tally_uses_stored_power_not_commit_power() -> None:
    extension = build_extension(make_events(1, 1), 0, PARAMS)
    # Validator 0 alone holds 70 of 100 stored power.
    validators, commit = make_scenario({0: extension}, powers=[70, 10, 10, 10])
    valset = get_valset(validators)
    assert len(tally_events(commit, valset, 0, PARAMS)) == 1
    # A commit that claims other powers does not match our set and attests nothing.
    commit.votes[0].validator.power = 10
    commit.votes[1].validator.power = 70
    assert tally_events(commit, valset, 0, PARAMS) == []


def test_tally_ignores_commit_with_duplicated_validator() -> None:
    extension = build_extension(make_events(1, 1), 0, PARAMS)
    validators, commit = make_scenario({0: extension, 1: extension, 2: extension})
    commit.votes[3].CopyFrom(commit.votes[0])
    assert tally_events(commit, get_valset(validators), 0, PARAMS) == []


def test_tally_is_bounded_by_max_events_per_extension() -> None:
    extensions = all_attest(make_events(1, 64))
    validators, commit = make_scenario(extensions)
    assert len(tally_events(commit, get_valset(validators), 0, PARAMS)) == 64
