"""The watcher against a fake L1: confirmations and reorgs."""

from __future__ import annotations

import pytest

from abci_app.l1.source import L1ChangedDuringScanError, L1InconsistentError
from abci_app.l1.watcher import WatcherHaltedError
from tests.unit.l1.fake_l1 import FakeL1
from tests.unit.l1.helpers import (
    get_served,
    get_served_nonces,
    make_watcher,
)

# ---------------------------------------------------------------- confirmations


def test_event_is_not_observed_until_confirmations_deep() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=2)
    l1.emit("Locked")
    block = l1.mine()
    l1.mine(1)  # one block on top: not yet 2 deep
    watcher.poll_once()
    assert get_served_nonces(view) == []
    assert watcher.get_progress() == (block + 1, 1)  # seen, pending
    l1.mine(1)
    result = watcher.poll_once()
    assert get_served_nonces(view) == [1]
    assert result.confirmed_height == block
    assert result.new_events == 1


def test_event_fields_carry_their_l1_position() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=0)
    l1.emit("LockIncreased", sequencer_id=4, values=(5, 12))
    block = l1.mine()
    watcher.poll_once()
    (event,) = get_served(view)
    assert (event.nonce, event.l1_block_number, event.log_index) == (1, block, 0)
    assert event.l1_block_hash == l1.blocks[block].hash
    assert event.lock_increased.sequencer_id == 4
    assert (event.lock_increased.amount_wei, event.lock_increased.new_total_wei) == ("5", "12")


def test_finalized_mode_observes_only_at_or_below_the_finalized_block() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, finality="finalized")
    l1.emit("Locked")
    block = l1.mine()
    l1.mine(20)
    l1.finalized = block - 1
    watcher.poll_once()
    assert get_served_nonces(view) == []
    l1.finalized = block
    watcher.poll_once()
    assert get_served_nonces(view) == [1]


def test_finalized_block_above_head_is_nonsense() -> None:
    l1 = FakeL1()
    watcher, _ = make_watcher(l1, finality="finalized")
    l1.mine(3)
    l1.finalized = 10
    with pytest.raises(L1InconsistentError):
        watcher.poll_once()


def test_start_block_not_yet_confirmed_waits_quietly() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, start_block=50)
    l1.mine(10)
    result = watcher.poll_once()
    assert result.caught_up and result.confirmed_height == 49
    assert get_served_nonces(view) == []


# ---------------------------------------------------------------- reorgs


def test_reorg_below_confirmation_depth_drops_unconfirmed_event_and_serves_replacement() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=3)
    l1.emit("Locked", sequencer_id=1)
    l1.mine()
    l1.mine(3)
    watcher.poll_once()
    assert get_served_nonces(view) == [1]
    l1.emit("Locked", sequencer_id=2)
    l1.mine()
    watcher.poll_once()
    assert watcher.get_progress()[1] == 1  # nonce 2 seen, unconfirmed
    l1.reorg(1)
    replacement = l1.emit("SignerChanged", sequencer_id=1)
    assert replacement == 2
    l1.mine()
    result = watcher.poll_once()
    assert result.reorged_blocks == 1
    l1.mine(3)
    watcher.poll_once()
    served = get_served(view)
    assert [e.nonce for e in served] == [1, 2]
    assert served[1].WhichOneof("kind") == "signer_changed"
    assert served[1].l1_block_hash == l1.blocks[served[1].l1_block_number].hash


def test_reorg_that_shortens_the_chain_rolls_back_to_the_fork_point() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=4)
    l1.mine(10)
    l1.emit("Locked")
    l1.mine(2)
    watcher.poll_once()
    l1.reorg(3)  # head 9: the event's block is gone
    result = watcher.poll_once()
    assert result.reorged_blocks == 3
    assert watcher.get_progress() == (9, 0)
    l1.mine(10)
    watcher.poll_once()
    assert get_served_nonces(view) == []


def test_reorg_deeper_than_confirmations_halts_and_keeps_serving() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=2)
    l1.emit("Locked")
    l1.mine()
    l1.mine(2)
    watcher.poll_once()
    assert get_served_nonces(view) == [1]
    l1.reorg(3)  # takes the confirmed event's block
    l1.emit("Locked", sequencer_id=9)
    l1.mine(5)
    with pytest.raises(WatcherHaltedError):
        watcher.poll_once()
    assert watcher.halted
    with pytest.raises(WatcherHaltedError):
        watcher.poll_once()
    assert get_served_nonces(view) == [1]
    assert get_served(view)[0].locked.sequencer_id == 1


def test_reorg_while_logs_are_read_discards_the_scan() -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=2)
    l1.mine(5)
    watcher.poll_once()

    def swap_tip() -> None:
        l1.reorg(1)
        l1.emit("Locked", sequencer_id=7)
        l1.mine(1)

    l1.emit("Locked", sequencer_id=6)
    l1.mine(1)
    l1.before_get_logs = swap_tip
    with pytest.raises(L1ChangedDuringScanError):
        watcher.poll_once()
    l1.mine(2)
    watcher.poll_once()
    assert [e.locked.sequencer_id for e in get_served(view)] == [7]
