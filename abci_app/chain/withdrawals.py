"""The withdrawal queue: PendingWithdrawal records swept at end of block.

A withdrawal leaves the lock (and voting power) at once, stays slashable until
releasable_at (block time + withdrawal_delay), then becomes releasable. It is
paid out, and leaves the queue, only when the L1 contract reports Released.
"""

from typing import Any

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params
from abci_app.chain.state import (
    EXITED,
    UNLOCKING,
    allocate_id,
    change_totals,
    format_wei,
    get_locked,
    get_records,
    put_record,
    put_sequencer,
    set_locked,
)
from abci_app.chain.types import Event
from abci_app.errors import ReleaseExceedsReleasableError
from abci_app.store.kv import KVStore

NS_PER_S = 1_000_000_000


def get_withdrawals(kv: KVStore, sequencer_id: int = 0) -> list[Any]:
    """Queued withdrawals in id (= request) order; sequencer_id 0 means all."""
    records = get_records(kv, keys.WITHDRAWAL_PREFIX, state.PendingWithdrawal)
    return [w for w in records if sequencer_id == 0 or w.sequencer_id == sequencer_id]


def get_withdrawal_amount(withdrawal: Any) -> int:
    return int(withdrawal.amount_wei or "0")


def put_withdrawal(kv: KVStore, withdrawal: Any) -> None:
    """Store it, or drop it once nothing is owed."""
    if get_withdrawal_amount(withdrawal) == 0:
        kv.delete(keys.withdrawal_key(withdrawal.id))
    else:
        put_record(kv, keys.withdrawal_key(withdrawal.id), withdrawal)


def queue_withdrawal(
    kv: KVStore, seq: Any, amount_wei: int, time_ns: int, params: Params,
    full_exit: bool, l1_nonce: int,
) -> Any:
    """Move amount_wei from the lock into the queue. The caller stores `seq`."""
    withdrawal = state.PendingWithdrawal(
        id=allocate_id(kv, "next_withdrawal_id"),
        sequencer_id=seq.id,
        amount_wei=format_wei(amount_wei),
        requested_at_ns=time_ns,
        releasable_at_ns=time_ns + params.withdrawal_delay_s * NS_PER_S,
        releasable=False,
        slashed_wei="0",
        full_exit=full_exit,
        l1_nonce=l1_nonce,
    )
    set_locked(seq, get_locked(seq) - amount_wei)
    put_withdrawal(kv, withdrawal)
    change_totals(kv, total_locked_wei=-amount_wei, total_pending_wei=amount_wei)
    return withdrawal


def process_withdrawal_queue(kv: KVStore, time_ns: int) -> list[Event]:
    """Withdrawals whose delay has passed become releasable (and no longer slashable)."""
    events = []
    for withdrawal in get_withdrawals(kv):
        if withdrawal.releasable or time_ns < withdrawal.releasable_at_ns:
            continue
        withdrawal.releasable = True
        put_withdrawal(kv, withdrawal)
        events.append(Event("withdrawal_releasable", [
            ("withdrawal_id", str(withdrawal.id)),
            ("sequencer_id", str(withdrawal.sequencer_id)),
            ("amount_wei", withdrawal.amount_wei),
        ]))
    return events


def release_withdrawals(kv: KVStore, seq: Any, amount_wei: int) -> None:
    """Pay out amount_wei from the sequencer's releasable withdrawals, oldest first."""
    # Verify the L1 payout is covered by what the chain considers releasable
    releasable = [w for w in get_withdrawals(kv, seq.id) if w.releasable]
    available = sum(get_withdrawal_amount(w) for w in releasable)
    if amount_wei > available:
        raise ReleaseExceedsReleasableError(
            f"released {amount_wei} wei > releasable {available} wei for sequencer {seq.id}")
    remaining = amount_wei
    for withdrawal in releasable:
        take = min(remaining, get_withdrawal_amount(withdrawal))
        withdrawal.amount_wei = format_wei(get_withdrawal_amount(withdrawal) - take)
        put_withdrawal(kv, withdrawal)
        remaining -= take
    change_totals(kv, total_pending_wei=-amount_wei, total_released_wei=amount_wei)
    update_exit_status(kv, seq)


def update_exit_status(kv: KVStore, seq: Any) -> None:
    """An unlocking sequencer with nothing locked or queued has exited. Stores `seq`."""
    if seq.status == UNLOCKING and get_locked(seq) == 0 and not get_withdrawals(kv, seq.id):
        seq.status = EXITED
    put_sequencer(kv, seq)
