"""Tallying L2 headers (by height, linked), seed randomness and the L1 confirmed height."""

from collections.abc import Sequence
from typing import Any

from abci_app.devnet.relay_testing import (
    BLOCK_ID_FLAG_ABSENT,
    get_valset,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
)
from abci_app.relay.extension import build_extension
from abci_app.relay.tally import compute_l1_confirmed_height, tally_attested
from abci_app.relay.types import Attested, RelayView

from .helpers import PARAMS, make_events, make_scenario

GENESIS = make_l2_genesis_hash()
HEADERS = make_l2_headers(1, 5, GENESIS)
VIEW = RelayView(l2_head=(0, GENESIS), seed_request=30)


def ext(headers: Sequence[Any] = (), head: tuple[int, bytes] = (0, GENESIS),
        randomness: Any | None = None, l1: int = 0, events: Sequence[Any] = ()) -> bytes:
    """One validator's extension from its view."""
    return build_extension(events, 0, PARAMS, l2_headers=headers, l2_head=head,
                           randomness=randomness, seed_request=VIEW.seed_request,
                           l1_confirmed_height=l1)


def tally(extensions: dict[int, bytes], view: RelayView = VIEW,
          powers: list[int] | None = None) -> Attested:
    validators, commit = make_scenario(extensions, powers=powers or [10, 10, 10, 10])
    return tally_attested(commit, get_valset(validators), view, PARAMS)


def test_headers_that_three_of_four_report_are_attested() -> None:
    honest = ext(HEADERS)
    assert tally({0: honest, 1: honest, 2: honest}).l2_headers == tuple(HEADERS)


def test_headers_stop_at_the_first_height_without_a_supermajority() -> None:
    long, short = ext(HEADERS), ext(HEADERS[:2])
    assert tally({0: long, 1: long, 2: short, 3: short}).l2_headers == tuple(HEADERS[:2])


def test_a_lying_validators_header_is_not_counted() -> None:
    honest = ext(HEADERS[:3])
    lie = ext(make_l2_headers(1, 3, GENESIS, label="lie"))
    # Three honest out of four: the honest ones win; the lie is simply not counted.
    assert tally({0: honest, 1: honest, 2: honest, 3: lie}).l2_headers == tuple(HEADERS[:3])
    # Two against two: nobody has more than 2/3, so no header is attested.
    assert tally({0: honest, 1: honest, 2: lie, 3: lie}).l2_headers == ()


def test_headers_must_link_to_the_stored_head() -> None:
    # Every validator reports a branch whose height 1 is not a child of our L2 genesis.
    other = make_l2_headers(1, 3, b"\x07" * 32)
    stale = ext(other, head=(0, b"\x07" * 32))
    assert tally({i: stale for i in range(4)}).l2_headers == ()


def test_headers_continue_from_the_stored_head() -> None:
    head = (2, bytes(HEADERS[1].hash))
    from_three = ext(HEADERS, head=head)
    view = RelayView(l2_head=head)
    assert tally({i: from_three for i in range(4)}, view).l2_headers == tuple(HEADERS[2:])
    # Windows that started earlier still count from the stored head on.
    from_one = ext(HEADERS)
    assert tally({i: from_one for i in range(4)}, view).l2_headers == tuple(HEADERS[2:])


def test_no_headers_are_attested_without_a_registered_l2() -> None:
    honest = ext(HEADERS)
    assert tally({i: honest for i in range(4)}, RelayView()).l2_headers == ()


def test_events_and_headers_are_tallied_independently() -> None:
    events = make_events(1, 2)
    both = ext(HEADERS[:2], events=events)
    only_events = build_extension(events, 0, PARAMS)
    attested = tally({0: both, 1: both, 2: only_events, 3: only_events})
    assert attested.events == tuple(events)
    assert attested.l2_headers == ()


def test_randomness_needs_identical_supermajority_for_the_requested_height() -> None:
    seed = make_randomness(30)
    honest = ext(randomness=seed)
    assert tally({0: honest, 1: honest, 2: honest}).seed_randomness == seed
    lie = ext(randomness=make_randomness(30, label="lie"))
    assert tally({0: honest, 1: honest, 2: lie, 3: lie}).seed_randomness is None
    # Randomness of another height (not the chain's request) never counts.
    assert tally({i: honest for i in range(4)}, RelayView(seed_request=31)).seed_randomness is None
    assert tally({i: honest for i in range(4)}, RelayView()).seed_randomness is None


def test_l1_height_is_the_largest_that_more_than_two_thirds_reach() -> None:
    assert compute_l1_confirmed_height([(100, 10), (90, 10), (80, 10), (70, 10)], 40) == 80
    assert compute_l1_confirmed_height([(100, 30), (5, 10)], 40) == 100
    # A validator with no extension reports 0: two of four reporting is not enough.
    assert compute_l1_confirmed_height([(100, 10), (100, 10)], 40) == 0
    attested = tally({0: ext(l1=100), 1: ext(l1=90), 2: ext(l1=80), 3: ext(l1=200)})
    assert attested.l1_confirmed_height == 90


def test_l1_height_not_above_the_stored_one_is_not_attested() -> None:
    extensions = {i: ext(l1=50) for i in range(4)}
    assert tally(extensions, RelayView(l1_confirmed_height=49)).l1_confirmed_height == 50
    assert tally(extensions, RelayView(l1_confirmed_height=50)).l1_confirmed_height == 0


def test_absent_validators_count_as_reporting_nothing() -> None:
    honest = ext(HEADERS, l1=70)
    validators, commit = make_scenario({0: honest, 1: honest, 2: honest},
                                       flags={2: BLOCK_ID_FLAG_ABSENT})
    attested = tally_attested(commit, get_valset(validators), VIEW, PARAMS)
    assert attested == Attested()
