"""The withdrawal queue: PendingWithdrawal records swept at end of block.

A withdrawal leaves the lock (and voting power) at once, stays slashable until
releasable_at (block time + withdrawal_delay), then becomes releasable. It is
released on L1 by a settled batch (abci_app/chain/settlement.py), and leaves
the queue when the L1 contract reports Released (the owner's claim).
Each record keeps the nonce of the L1 event that queued it, so settlement can
match L1's releases to the requests.
"""

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import NS_PER_S, Params
from abci_app.chain.state import (
    EXITED,
    UNLOCKING,
    allocate_id,
    change_totals,
    format_wei,
    get_locked,
    get_record,
    get_records,
    put_record,
    put_sequencer,
    set_locked,
)
from abci_app.chain.types import Event
from abci_app.errors import ReleaseExceedsReleasableError
from abci_app.store.kv import KVStore


def get_withdrawals(kv: KVStore, sequencer_id: int = 0) -> list[state.PendingWithdrawal]:
    """Queued withdrawals in id (= request) order; sequencer_id 0 means all.

    One sequencer's are read through its index, not by reading every queued withdrawal."""
    if sequencer_id == 0:
        return get_records(kv, keys.WITHDRAWAL_PREFIX, state.PendingWithdrawal)
    prefix = keys.withdrawal_sequencer_index_key(sequencer_id, 0)[:-8]
    records = []
    for key, _ in kv.iterate(prefix):
        withdrawal_id = keys.decode_u64(key[len(prefix):])
        record = get_record(kv, keys.withdrawal_key(withdrawal_id), state.PendingWithdrawal)
        if record is None:
            raise RuntimeError(f"withdrawal {withdrawal_id} is indexed but missing")
        records.append(record)
    return records


def get_withdrawal_amount(withdrawal: state.PendingWithdrawal) -> int:
    return int(withdrawal.amount_wei or "0")


def put_withdrawal(kv: KVStore, withdrawal: state.PendingWithdrawal) -> None:
    """Store it, or drop it once nothing is owed. The one write path of a withdrawal:
    it keeps the indexes in step (by sequencer; and, while in their delay, by
    releasable_at)."""
    key = keys.withdrawal_key(withdrawal.id)
    old = get_record(kv, key, state.PendingWithdrawal)
    by_sequencer = keys.withdrawal_sequencer_index_key(int(withdrawal.sequencer_id),
                                                       int(withdrawal.id))
    if old is None and get_withdrawal_amount(withdrawal) > 0:
        kv.set(by_sequencer, b"")
    elif old is not None and get_withdrawal_amount(withdrawal) == 0:
        kv.delete(by_sequencer)
    old_due = None if old is None else _due_index_key(old)
    new_due = None if get_withdrawal_amount(withdrawal) == 0 else _due_index_key(withdrawal)
    if old_due != new_due:
        if old_due is not None:
            kv.delete(old_due)
        if new_due is not None:
            kv.set(new_due, b"")
    if get_withdrawal_amount(withdrawal) == 0:
        kv.delete(key)
    else:
        put_record(kv, key, withdrawal)


def _due_index_key(withdrawal: state.PendingWithdrawal) -> bytes | None:
    if withdrawal.releasable:
        return None
    return keys.withdrawal_due_index_key(int(withdrawal.releasable_at_ns), int(withdrawal.id))


def queue_withdrawal(
    kv: KVStore, seq: state.Sequencer, amount_wei: int, time_ns: int, params: Params, *,
    l1_nonce: int, full_exit: bool = False,
) -> state.PendingWithdrawal:
    """Move amount_wei from the lock into the queue. The caller stores `seq`.

    l1_nonce is the nonce of the L1 event that asked for it (0 if the chain
    queued it on its own).
    """
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
    """Withdrawals whose delay has passed become releasable (and no longer slashable).

    Reads the due index up to `time_ns`, not every queued withdrawal; handles them in
    request order."""
    due: list[int] = []
    for key, _ in kv.iterate(keys.WITHDRAWAL_DUE_INDEX_PREFIX):
        releasable_at_ns, withdrawal_id = keys.decode_withdrawal_due_index_key(key)
        if releasable_at_ns > time_ns:
            break
        due.append(withdrawal_id)
    events = []
    for withdrawal_id in sorted(due):
        withdrawal = get_record(kv, keys.withdrawal_key(withdrawal_id), state.PendingWithdrawal)
        if withdrawal is None:
            raise RuntimeError(f"withdrawal {withdrawal_id} is in the due index but missing")
        withdrawal.releasable = True
        put_withdrawal(kv, withdrawal)
        events.append(Event("withdrawal_releasable", [
            ("withdrawal_id", str(withdrawal.id)),
            ("sequencer_id", str(withdrawal.sequencer_id)),
            ("amount_wei", withdrawal.amount_wei),
        ]))
    return events


def get_claim_order(kv: KVStore, sequencer_id: int) -> list[state.PendingWithdrawal]:
    """The withdrawals an L1 claim pays: those a settled batch released first, then the
    rest, each group in request order."""
    queued = get_withdrawals(kv, sequencer_id)
    return [w for w in queued if w.released_on_l1] + [w for w in queued if not w.released_on_l1]


def validate_release(kv: KVStore, seq: state.Sequencer, amount_wei: int) -> None:
    """Raises ReleaseExceedsReleasableError if L1 paid more than the chain ever queued.

    Never refused for timing: L1 pays only what settlement released, so a claim
    that lands before the chain saw the delay pass is still a fact. Writes nothing.
    """
    available = sum(get_withdrawal_amount(w) for w in get_withdrawals(kv, seq.id))
    if amount_wei > available:
        raise ReleaseExceedsReleasableError(
            f"released {amount_wei} wei > queued {available} wei for sequencer {seq.id}")


def release_withdrawals(kv: KVStore, seq: state.Sequencer, amount_wei: int) -> None:
    """Mark amount_wei of the sequencer's withdrawals paid, in claim order.

    The caller has run validate_release. Stores `seq`.
    """
    remaining = amount_wei
    for withdrawal in get_claim_order(kv, seq.id):
        take = min(remaining, get_withdrawal_amount(withdrawal))
        withdrawal.amount_wei = format_wei(get_withdrawal_amount(withdrawal) - take)
        put_withdrawal(kv, withdrawal)
        remaining -= take
    change_totals(kv, total_pending_wei=-amount_wei, total_released_wei=amount_wei)
    update_exit_status(kv, seq)


def update_exit_status(kv: KVStore, seq: state.Sequencer) -> None:
    """An unlocking sequencer with nothing locked or queued has exited. Stores `seq`."""
    if seq.status == UNLOCKING and get_locked(seq) == 0 and not get_withdrawals(kv, seq.id):
        seq.status = EXITED
    put_sequencer(kv, seq)
