"""The attested tx's L2 headers, seed randomness and L1 height: only what > 2/3 back verifies."""

from typing import Any

import pytest

from abci_app.devnet.relay_testing import (
    BLOCK_ID_FLAG_ABSENT,
    compute_commit_info,
    get_valset,
    make_attested_tx,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
)
from abci_app.relay.attested_tx import (
    InvalidAttestedTx,
    build_attested_tx,
    compute_attested_fit,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import (
    compute_supporting_commit,
    prune_extended_commit,
    tally_attested,
)
from abci_app.relay.types import Attested, RelayView

from .helpers import CHAIN_ID, HEIGHT, HEIGHT_VOTED, PARAMS, make_events, make_scenario

GENESIS = make_l2_genesis_hash()
HEADERS = make_l2_headers(1, 3, GENESIS)
SEED = make_randomness(30)
VIEW = RelayView(l2_head=(0, GENESIS), seed_request=30, l1_confirmed_height=10)


def ext(l1: int = 50, headers: Any = HEADERS, seed: Any = SEED) -> bytes:
    return build_extension([], 0, PARAMS, l2_headers=headers, l2_head=(0, GENESIS),
                           randomness=seed, seed_request=30, l1_confirmed_height=l1)


def honest() -> tuple[Any, Any]:
    """Validators 0-2 report HEADERS, SEED and L1 height 50; validator 3 was absent."""
    validators, commit = make_scenario({0: ext(), 1: ext(), 2: ext()},
                                       flags={3: BLOCK_ID_FLAG_ABSENT})
    return validators, commit


def verify(tx: bytes, commit: Any, validators: Any, view: RelayView = VIEW) -> Attested:
    return verify_attested_tx(tx, compute_commit_info(commit), get_valset(validators), HEIGHT,
                              CHAIN_ID, view, PARAMS)


def test_honest_tx_attests_headers_randomness_and_l1_height() -> None:
    validators, commit = honest()
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_attested(pruned, valset, VIEW, PARAMS)
    assert attested == Attested(l2_headers=tuple(HEADERS), seed_randomness=SEED,
                                l1_confirmed_height=50)
    tx = build_attested_tx(pruned, attested, PARAMS)
    assert tx is not None
    assert verify(tx, commit, validators) == attested


@pytest.mark.parametrize(("claimed", "accepted"), [
    ({"l2_headers": HEADERS[:1]}, True),             # a prefix of the headers
    ({"seed_randomness": SEED}, True),
    ({"l1_confirmed_height": 50}, True),
    ({"l1_confirmed_height": 0, "l2_headers": HEADERS}, True),
])
def test_proposer_may_attest_a_part(claimed: dict[str, Any], accepted: bool) -> None:
    validators, commit = honest()
    tx = make_attested_tx(commit, [], claimed.get("l2_headers", ()),
                          claimed.get("seed_randomness"), claimed.get("l1_confirmed_height", 0))
    assert verify(tx, commit, validators).l2_headers == tuple(claimed.get("l2_headers", ()))


def test_invalid_header_not_backed_by_two_thirds_is_rejected() -> None:
    validators, commit = honest()
    forged = make_l2_headers(1, 3, GENESIS, label="forged")
    with pytest.raises(InvalidAttestedTx, match="L2 headers #0"):
        verify(make_attested_tx(commit, [], forged), commit, validators)
    longer = make_l2_headers(1, 4, GENESIS)
    with pytest.raises(InvalidAttestedTx, match="4 L2 headers claimed, only 3"):
        verify(make_attested_tx(commit, [], longer), commit, validators)


def test_invalid_header_that_does_not_link_to_the_stored_head_is_rejected() -> None:
    validators, commit = honest()
    # Everyone attests HEADERS, but the chain's head is elsewhere: nothing links.
    view = RelayView(l2_head=(0, b"\x08" * 32), seed_request=30)
    with pytest.raises(InvalidAttestedTx, match="L2 headers"):
        verify(make_attested_tx(commit, [], HEADERS), commit, validators, view)


def test_invalid_headers_when_no_l2_is_registered_are_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx, match="L2 headers"):
        verify(make_attested_tx(commit, [], HEADERS), commit, validators, RelayView())


def test_invalid_randomness_not_backed_by_two_thirds_is_rejected() -> None:
    validators, commit = honest()
    with pytest.raises(InvalidAttestedTx, match="seed randomness"):
        verify(make_attested_tx(commit, [], seed_randomness=make_randomness(30, label="x")),
               commit, validators)
    with pytest.raises(InvalidAttestedTx, match="seed randomness"):
        verify(make_attested_tx(commit, [], seed_randomness=make_randomness(31)), commit,
               validators)


def test_invalid_l1_height_not_backed_by_two_thirds_is_rejected() -> None:
    validators, commit = honest()
    for lie in (51, 49, 10**12):
        with pytest.raises(InvalidAttestedTx, match="l1_confirmed_height"):
            verify(make_attested_tx(commit, [], l1_confirmed_height=lie), commit, validators)
    # Not above the stored height: nothing to attest, so only 0 verifies.
    with pytest.raises(InvalidAttestedTx, match="l1_confirmed_height"):
        verify(make_attested_tx(commit, [], l1_confirmed_height=50), commit, validators,
               RelayView(l2_head=(0, GENESIS), l1_confirmed_height=50))


def test_invalid_lying_minority_cannot_move_the_tally() -> None:
    # Validator 3 reports a forged header, randomness and a huge L1 height.
    lie = ext(l1=10**9, headers=make_l2_headers(1, 3, GENESIS, label="lie"),
              seed=make_randomness(30, label="lie"))
    validators, commit = make_scenario({0: ext(), 1: ext(), 2: ext(), 3: lie})
    attested = tally_attested(commit, get_valset(validators), VIEW, PARAMS)
    assert attested == Attested(l2_headers=tuple(HEADERS), seed_randomness=SEED,
                                l1_confirmed_height=50)
    with pytest.raises(InvalidAttestedTx):
        verify(make_attested_tx(commit, [], l1_confirmed_height=10**9), commit, validators)


def test_invalid_duplicated_vote_cannot_fake_a_header_supermajority() -> None:
    validators, commit = make_scenario({0: ext(), 1: ext()})
    commit.votes[2].CopyFrom(commit.votes[0])
    with pytest.raises(InvalidAttestedTx, match="address|stored validator set"):
        verify(make_attested_tx(commit, [], HEADERS), commit, validators)


def test_invalid_omitted_vote_is_rejected_with_headers() -> None:
    validators, commit = honest()
    proposed = compute_commit_info(commit)
    del commit.votes[1]
    with pytest.raises(InvalidAttestedTx, match="votes"):
        verify_attested_tx(make_attested_tx(commit, [], HEADERS), proposed,
                           get_valset(validators), HEIGHT, CHAIN_ID, VIEW, PARAMS)


# --- the shrink: a 2/3 subset that still attests every part ----------------------------

SMALL = RelayParams(max_events_per_extension=8, max_extension_bytes=2048,
                    max_attested_tx_bytes=12 * 1024)


def test_supporting_commit_keeps_supporters_of_each_part() -> None:
    events = make_events(1, 2)
    # Events carried by 0-8, headers by 3-11: each part by 9 of 12, together by only 6.
    with_events = build_extension(events, 0, SMALL)
    with_both = build_extension(events, 0, SMALL, l2_headers=HEADERS, l2_head=(0, GENESIS),
                                l1_confirmed_height=60)
    with_headers = build_extension([], 0, SMALL, l2_headers=HEADERS, l2_head=(0, GENESIS),
                                   l1_confirmed_height=60)
    extensions = {i: with_events for i in range(3)}
    extensions.update({i: with_both for i in range(3, 9)})
    extensions.update({i: with_headers for i in range(9, 12)})
    validators, commit = make_scenario(extensions, powers=[10] * 12)
    valset = get_valset(validators)
    view = RelayView(l2_head=(0, GENESIS))
    attested = tally_attested(commit, valset, view, SMALL)
    assert len(attested.events) == 2 and len(attested.l2_headers) == 3
    assert attested.l1_confirmed_height == 60
    # No 2/3 carries both parts (only 6 of 12 do), yet a subset attests each of them.
    smaller = compute_supporting_commit(commit, valset, attested, SMALL)
    assert smaller is not None
    # Re-tallied from what is kept, every part survives, the L1 height included.
    assert tally_attested(smaller, valset, view, SMALL) == attested
    tx = build_attested_tx(smaller, attested, SMALL)
    assert tx is not None
    assert verify_attested_tx(tx, compute_commit_info(commit), valset, HEIGHT, CHAIN_ID, view,
                              SMALL) == attested


def test_fit_keeps_headers_before_events_and_never_cuts_the_commit() -> None:
    events = make_events(1, 8)
    extension = build_extension(events, 0, SMALL, l2_headers=HEADERS, l2_head=(0, GENESIS))
    validators, commit = make_scenario({i: extension for i in range(4)})
    attested = tally_attested(commit, get_valset(validators), RelayView(l2_head=(0, GENESIS)),
                              SMALL)
    full = build_attested_tx(commit, attested, SMALL)
    assert full is not None
    tight = RelayParams(max_events_per_extension=8, max_extension_bytes=2048,
                        max_attested_tx_bytes=len(full) - 1)
    fitted = compute_attested_fit(commit, attested, tight)
    assert fitted is not None
    assert fitted.l2_headers == attested.l2_headers
    assert 0 < len(fitted.events) < len(attested.events)


def test_supporting_commit_for_the_l1_height_alone_keeps_enough_reports() -> None:
    reports = [70, 60, 50, 40]
    extensions = {i: build_extension([], 0, SMALL, l1_confirmed_height=h)
                  for i, h in enumerate(reports)}
    validators, commit = make_scenario(extensions)
    valset = get_valset(validators)
    attested = tally_attested(commit, valset, RelayView(), SMALL)
    assert attested == Attested(l1_confirmed_height=50)
    smaller = compute_supporting_commit(commit, valset, attested, SMALL)
    assert smaller is not None
    assert sum(1 for v in smaller.votes if v.vote_extension) == 3
    assert tally_attested(smaller, valset, RelayView(), SMALL) == attested
