"""The watcher against a fake L1: gaps, restarts, and nonsense from the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from abci_app.l1.cursor import LevelCursorStore, MemoryCursorStore
from abci_app.l1.source import L1InconsistentError, L1WrongChainError
from abci_app.l1.watcher import NonceGapError, WatcherHaltedError
from tests.unit.l1.fake_l1 import OTHER_CONTRACT, FakeL1, encode_log, sample_values
from tests.unit.l1.helpers import (
    get_served,
    get_served_nonces,
    make_watcher,
    poll_until_caught_up,
)

# ---------------------------------------------------------------- never backwards, never skip


def test_lagging_node_below_confirmed_height_is_refused_without_going_back() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=2)
    l1.emit("Locked")
    l1.mine(10)
    watcher.poll_once()
    before = view.get_tip()
    l1.head_offset = -8
    with pytest.raises(L1InconsistentError, match="below our confirmed height"):
        watcher.poll_once()
    assert view.get_tip() == before


def test_missed_log_is_a_gap_that_triggers_a_rescan_not_a_skip() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=0)
    l1.emit("Locked")
    l1.emit("LockIncreased")
    l1.mine()
    l1.hidden_nonces = {1}  # the node drops nonce 1 once
    with pytest.raises(NonceGapError):
        watcher.poll_once()
    assert get_served_nonces(view) == []
    watcher.poll_once()
    assert get_served_nonces(view) == [1, 2]


def test_gap_across_polls_is_rescanned_from_the_confirmed_height() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=2)
    l1.emit("Locked")
    l1.mine()
    l1.hidden_nonces = {1}
    watcher.poll_once()  # nonce 1 missed; nothing seen yet
    l1.emit("LockIncreased")
    l1.mine(3)
    with pytest.raises(NonceGapError):
        watcher.poll_once()
    watcher.poll_once()
    assert get_served_nonces(view) == [1, 2]


def test_malformed_log_is_skipped_and_later_nonces_wait_for_it() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=0)
    l1.emit("Locked")
    l1.emit("UnlockInitiated")
    l1.emit("Released")
    l1.mine()
    l1.truncated_nonces = {2}
    with pytest.raises(NonceGapError):
        watcher.poll_once()
    assert get_served_nonces(view) == []
    l1.truncated_nonces = set()
    watcher.poll_once()
    assert get_served_nonces(view) == [1, 2, 3]


def test_missed_last_log_is_caught_by_the_contracts_event_nonce() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=1)
    l1.emit("Locked")
    l1.emit("LockIncreased")
    l1.mine(4)
    l1.hidden_nonces = {2}
    with pytest.raises(NonceGapError, match="eventNonce"):
        watcher.poll_once()
    assert get_served_nonces(view) == []
    watcher.poll_once()
    assert get_served_nonces(view) == [1, 2]


def test_missed_last_log_of_a_confirmed_range_is_backfilled_when_the_next_shows_the_gap() -> None:
    l1 = FakeL1()
    l1.no_state = True  # no eth_call cross-check: only the next event shows the gap
    watcher, view = make_watcher(l1, confirmations=1)
    l1.emit("Locked")
    l1.emit("LockIncreased")
    l1.mine()
    l1.mine(3)
    l1.hidden_nonces = {2}
    watcher.poll_once()
    assert get_served_nonces(view) == [1]  # nothing shows nonce 2 is missing yet
    confirmed = view.get_tip()[0]
    l1.emit("SignerChanged")
    l1.mine(2)
    with pytest.raises(NonceGapError):
        watcher.poll_once()
    watcher.poll_once()
    assert get_served_nonces(view) == [1, 2, 3]
    assert view.get_tip()[0] >= confirmed


def test_truncated_tail_log_is_never_skipped_while_it_stays_malformed() -> None:
    l1 = FakeL1()
    l1.no_state = True
    watcher, view = make_watcher(l1, confirmations=0)
    l1.emit("Locked")
    l1.emit("Released")
    l1.mine()
    l1.truncated_nonces = {2}  # the node keeps answering nonce 2 malformed
    watcher.poll_once()
    l1.emit("RewardsClaimed")
    l1.mine()
    for _ in range(3):
        with pytest.raises(NonceGapError):
            watcher.poll_once()
        assert get_served_nonces(view) == [1]


def test_confirmed_height_and_nonce_never_decrease_under_shallow_reorgs() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=3)
    tips = []
    for round_ in range(30):
        if round_ % 3 == 0:
            l1.emit("LockIncreased", values=(round_ + 1, round_ + 2))
        l1.mine()
        if round_ % 4 == 3:
            l1.reorg(2)
            l1.mine(2)
        try:
            watcher.poll_once()
        except NonceGapError:
            pass
        tips.append(view.get_tip())
    assert tips == sorted(tips)
    chain = l1.get_chain_events(view.get_tip()[0])
    served = get_served(view)
    assert [(e.nonce, e.l1_block_number, e.l1_block_hash) for e in served] == chain


# ---------------------------------------------------------------- catch-up and restarts


def test_catch_up_of_600_events_uses_bounded_ranges() -> None:
    l1 = FakeL1()
    for i in range(600):
        l1.emit("LockIncreased", values=(i + 1, i + 2))
        l1.mine(7)
    watcher, view = make_watcher(l1, confirmations=2, max_range=500)
    poll_until_caught_up(watcher)
    assert get_served_nonces(view) == list(range(1, 601))
    assert all(last - first + 1 <= 500 for first, last in l1.log_ranges)


def test_restart_resumes_from_the_persisted_cursor_with_no_gap_or_duplicate() -> None:
    l1 = FakeL1()
    store = MemoryCursorStore()
    watcher, _ = make_watcher(l1, store)
    for _ in range(3):
        l1.emit("Locked")
        l1.mine()
    l1.mine(2)
    watcher.poll_once()
    l1.emit("LockIncreased")
    l1.mine()  # seen, not confirmed, when the process dies
    watcher.poll_once()
    restarted, view = make_watcher(l1, store)
    assert get_served_nonces(view) == [1, 2, 3]
    l1.mine(2)
    restarted.poll_once()
    assert get_served_nonces(view) == [1, 2, 3, 4]
    assert store.load()[0] is not None and store.load()[0].last_nonce == 4  # type: ignore[union-attr]


def test_restart_on_leveldb_store_resumes(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.db"
    l1 = FakeL1()
    store = LevelCursorStore(path)
    watcher, _ = make_watcher(l1, store)
    l1.emit("Locked")
    l1.mine(3)
    watcher.poll_once()
    store.close()
    reopened = LevelCursorStore(path)
    restarted, view = make_watcher(l1, reopened)
    assert get_served_nonces(view) == [1]
    l1.emit("Released")
    l1.mine(3)
    restarted.poll_once()
    assert get_served_nonces(view) == [1, 2]
    reopened.close()


def test_restart_after_a_deep_reorg_while_down_halts() -> None:
    l1 = FakeL1()
    store = MemoryCursorStore()
    watcher, _ = make_watcher(l1, store)
    l1.emit("Locked")
    l1.mine(3)
    watcher.poll_once()
    l1.reorg(3)
    l1.mine(6)
    restarted, view = make_watcher(l1, store)
    with pytest.raises(WatcherHaltedError):
        restarted.poll_once()
    assert get_served_nonces(view) == [1]


def test_event_nonce_below_the_logs_is_inconsistent() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=0)
    l1.emit("Locked")
    l1.mine()
    real = l1.get_event_nonce
    l1.get_event_nonce = lambda address, block_hash: 0  # type: ignore[method-assign]
    with pytest.raises(L1InconsistentError, match="eventNonce"):
        watcher.poll_once()
    assert get_served_nonces(view) == []
    l1.get_event_nonce = real  # type: ignore[method-assign]
    watcher.poll_once()
    assert get_served_nonces(view) == [1]


def test_old_blocks_of_a_catch_up_skip_the_event_nonce_check() -> None:
    l1 = FakeL1()
    l1.emit("Locked")
    l1.mine(400)
    watcher, view = make_watcher(l1, confirmations=2, max_range=50)
    watcher.poll_once()
    assert get_served_nonces(view) == [1]
    # Of the 8 ranges up to block 398, only those ending within 64 blocks of the head
    # (at 350 and 398) are cross-checked: a pruned node has no state further back.
    assert l1.calls["get_event_nonce"] == 2


def test_store_of_another_contract_is_refused() -> None:
    l1 = FakeL1()
    store = MemoryCursorStore()
    watcher, _ = make_watcher(l1, store)
    l1.mine(3)
    watcher.poll_once()
    with pytest.raises(ValueError, match="follows contract"):
        make_watcher(l1, store, contract_address=b"\x01" * 20)


# ---------------------------------------------------------------- nonsense from L1


def test_wrong_chain_id_is_refused_after_pinning() -> None:
    l1 = FakeL1()
    watcher, _ = make_watcher(l1)
    l1.mine(3)
    watcher.poll_once()
    l1.chain_id = 1
    with pytest.raises(L1WrongChainError):
        watcher.poll_once()


def test_configured_chain_id_is_enforced_from_the_start() -> None:
    l1 = FakeL1(chain_id=5)
    watcher, _ = make_watcher(l1, chain_id=1)
    with pytest.raises(L1WrongChainError):
        watcher.poll_once()


def test_log_from_another_contract_fails_the_scan() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=0)
    l1.mine(2)
    l1.extra_logs = [encode_log("Locked", 1, 1, sample_values("Locked"), 1,
                                l1.blocks[1].hash, 0, address=OTHER_CONTRACT)]
    with pytest.raises(L1InconsistentError, match="log of 0x"):
        watcher.poll_once()
    assert get_served_nonces(view) == []
    l1.extra_logs = []
    watcher.poll_once()
    assert view.get_tip() == (2, 0)
