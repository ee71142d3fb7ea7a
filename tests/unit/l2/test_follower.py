"""The L2 follower: contiguous linked headers, reorgs dropped, gaps refetched, failures retried."""

from __future__ import annotations

import pytest

from abci_app.l1.source import L1UnavailableError, L1WrongChainError
from abci_app.l2.follower import L2Follower
from abci_app.l2.source import L2Block
from tests.unit.l2.fake_l2 import FakeL2


def poll_until_caught_up(follower: L2Follower, rounds: int = 50) -> None:
    for _ in range(rounds):
        if follower.poll_once():
            return
    raise AssertionError(f"not caught up after {rounds} polls")


def assert_linked(l2: FakeL2, headers: list, first: int) -> None:
    assert [h.height for h in headers] == list(range(first, first + len(headers)))
    for header in headers:
        block = l2.blocks[header.height]
        assert (bytes(header.hash), bytes(header.parent_hash), bytes(header.producer)) == (
            block.hash, block.parent_hash, block.producer)


def test_headers_after_a_height_are_contiguous_and_linked() -> None:
    l2 = FakeL2()
    l2.mine(10)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    headers = follower.get_headers_after(3, 4)
    assert_linked(l2, headers, 4)
    assert len(headers) == 4
    assert follower.get_headers_after(0, 100)[0].parent_hash == l2.blocks[0].hash


def test_zero_max_headers_returns_none() -> None:
    l2 = FakeL2()
    l2.mine(3)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    assert follower.get_headers_after(0, 0) == []


def test_a_reorg_drops_the_replaced_headers_and_serves_the_new_ones() -> None:
    l2 = FakeL2()
    l2.mine(8)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    old = follower.get_headers_after(0, 100)
    l2.reorg(3)
    poll_until_caught_up(follower)
    new = follower.get_headers_after(0, 100)
    assert_linked(l2, new, 1)
    assert new[:5] == old[:5]
    assert [bytes(h.hash) for h in new[5:]] != [bytes(h.hash) for h in old[5:]]


def test_a_rollback_drops_the_headers_above_the_new_head() -> None:
    l2 = FakeL2()
    l2.mine(8)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    l2.rollback(3)
    poll_until_caught_up(follower)
    assert follower.get_kept_range() == (1, 5)
    assert_linked(l2, follower.get_headers_after(0, 100), 1)


def test_a_block_that_does_not_link_is_never_kept() -> None:
    l2 = FakeL2()
    l2.mine(4)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    # The node answers block 5 with a parent that is not our block 4
    l2.mine(1)
    b5 = l2.blocks[5]
    l2.blocks[5] = L2Block(5, b5.hash, b"\x99" * 32, b5.producer, b5.timestamp_s)
    assert follower.poll_once() is False
    assert follower.get_kept_range()[1] < 5
    l2.blocks[5] = b5
    poll_until_caught_up(follower)
    assert_linked(l2, follower.get_headers_after(0, 100), 1)


def test_the_window_follows_the_lowest_height_asked_for() -> None:
    l2 = FakeL2()
    l2.mine(30)
    follower = L2Follower(l2, keep=10)
    poll_until_caught_up(follower)
    assert follower.get_kept_range() == (21, 30)
    # The chain asks from its attested height: the gap below is fetched again
    assert follower.get_headers_after(4, 5) == []
    poll_until_caught_up(follower)
    assert follower.get_kept_range() == (5, 14)
    assert_linked(l2, follower.get_headers_after(4, 5), 5)


def test_an_unknown_height_returns_nothing() -> None:
    l2 = FakeL2()
    l2.mine(5)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    assert follower.get_headers_after(5, 10) == []
    assert follower.get_headers_after(99, 10) == []


def test_rpc_errors_raise_and_keep_what_was_fetched() -> None:
    l2 = FakeL2()
    l2.mine(5)
    follower = L2Follower(l2)
    poll_until_caught_up(follower)
    l2.mine(3)
    l2.fail_next = [L1UnavailableError("refused")]
    with pytest.raises(L1UnavailableError):
        follower.poll_once()
    assert follower.get_kept_range() == (1, 5)
    poll_until_caught_up(follower)
    assert follower.get_kept_range() == (1, 8)


def test_a_wrong_chain_id_is_refused() -> None:
    l2 = FakeL2(chain_id=5)
    follower = L2Follower(l2, chain_id=901)
    with pytest.raises(L1WrongChainError):
        follower.poll_once()


def test_a_fetch_is_bounded_per_poll() -> None:
    l2 = FakeL2()
    l2.mine(50)
    follower = L2Follower(l2, max_fetch=10)
    assert follower.poll_once() is False
    assert follower.get_kept_range() == (1, 10)
