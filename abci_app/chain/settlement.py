"""Settlement to L1: the chain forms batches the Locking contract applies.

Every settlement_interval_blocks, when no batch is in flight and something is
pending, the chain forms ONE batch (abci_app/settlement.py encodes and hashes
it): the slash records never batched (id order), one Release per sequencer for
its releasable withdrawals never batched, and one Reward per sequencer for its
rewards accrued but never batched (both ascending id), at most
max_settlement_items items; the rest waits for the next batch. Validators sign
its digest; the relay hands the signatures to finalize_block, which keeps their
union. The batch is complete when the signers' L1 locks pass 2/3 exactly as the
contract counts them. The L1 BatchSettled event marks the batch and its items
final. With params.l1_chain_id == 0 nothing here runs.
"""

from dataclasses import dataclass

from abci_app import settlement as s
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params, is_settlement_enabled
from abci_app.chain.state import (
    allocate_id,
    format_wei,
    get_chain_state,
    get_known_sequencer,
    get_l1_locked,
    get_locked,
    get_record,
    get_reward_pending_ids,
    get_sequencers,
    get_wei,
    put_chain_state,
    put_record,
    put_sequencer,
    set_l1_locked,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.chain.withdrawals import (
    get_withdrawal_amount,
    get_withdrawals,
    put_withdrawal,
    queue_withdrawal,
)
from abci_app.errors import BatchMismatchError
from abci_app.store.kv import KVStore

IN_FLIGHT = state.SETTLEMENT_STATUS_IN_FLIGHT
SETTLED = state.SETTLEMENT_STATUS_SETTLED


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What one batch covers: its items and the records they come from."""

    batch: s.Batch
    withdrawal_ids: tuple[int, ...]
    slash_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SettlementProgress:
    """How far the signatures of a batch are, counted as the contract counts stake."""

    signed_stake_wei: int
    total_stake_wei: int

    @property
    def complete(self) -> bool:
        return s.is_quorum(self.signed_stake_wei, self.total_stake_wei)


# --- reads ---------------------------------------------------------------------------------


def get_settlement_batch(kv: KVStore, nonce: int) -> state.SettlementBatch | None:
    return get_record(kv, keys.settlement_batch_key(nonce), state.SettlementBatch)


def get_in_flight_batch(kv: KVStore) -> state.SettlementBatch | None:
    nonce = int(get_chain_state(kv).in_flight_batch_nonce)
    return None if nonce == 0 else get_settlement_batch(kv, nonce)


def get_pending_settlement(kv: KVStore) -> tuple[int, bytes] | None:
    """(nonce, digest) of the in-flight batch, for the relay and the signer; None if none."""
    batch = get_in_flight_batch(kv)
    return None if batch is None else (int(batch.nonce), bytes(batch.digest))


def compute_settlement_progress(
    sequencers: list[state.Sequencer], signers: list[bytes]
) -> SettlementProgress:
    """Signed L1 stake over all L1 stake, as `Locking._countSignedStake` sees it."""
    stake_by_signer = {bytes(seq.signer): get_l1_locked(seq) for seq in sequencers}
    total = sum(stake_by_signer.values())
    signed = sum(stake_by_signer.get(signer, 0) for signer in sorted(set(signers)))
    return SettlementProgress(signed, total)


def get_settlement_progress(kv: KVStore, batch: state.SettlementBatch) -> SettlementProgress:
    signers = [bytes(sig.signer) for sig in batch.signatures]
    return compute_settlement_progress(get_sequencers(kv), signers)


# --- batch formation -----------------------------------------------------------------------


def _pending_slashes(kv: KVStore) -> list[state.SlashRecord]:
    """The slash records in no batch yet, by id.

    Batches take them in id order, so they are the newest ids: read back from the last
    id to the first batched one, O(unbatched) rather than every slash ever recorded
    (genesis checks that an exported state keeps this order).
    """
    records: list[state.SlashRecord] = []
    slash_id = int(get_chain_state(kv).next_slash_id) - 1
    while slash_id >= 1:
        record = get_record(kv, keys.slash_key(slash_id), state.SlashRecord)
        if record is None or record.batch_nonce != 0:
            break
        records.append(record)
        slash_id -= 1
    records.reverse()
    return records


def compute_batch_plan(kv: KVStore, params: Params, nonce: int) -> BatchPlan | None:
    """The next batch from what is pending, or None when nothing is."""
    room = params.max_settlement_items
    # Slashes first: they lower the L1 stake that counts signatures
    slash_records = _pending_slashes(kv)[:room]
    room -= len(slash_records)
    by_sequencer: dict[int, list[state.PendingWithdrawal]] = {}
    for withdrawal in get_withdrawals(kv):
        if withdrawal.releasable and withdrawal.batch_nonce == 0:
            by_sequencer.setdefault(int(withdrawal.sequencer_id), []).append(withdrawal)
    release_ids = sorted(by_sequencer)[:room]
    room -= len(release_ids)
    rewards: list[s.Reward] = []
    for sequencer_id in get_reward_pending_ids(kv, room):  # the index, not every sequencer
        seq = get_known_sequencer(kv, sequencer_id)
        owed = get_wei(seq.rewards_accrued_wei) - get_wei(seq.rewards_batched_wei)
        rewards.append(s.Reward(sequencer_id, owed))
    batch = s.Batch(
        nonce=nonce, chain_id=params.l1_chain_id, verifying_contract=params.l1_contract_address,
        releases=tuple(s.Release(i, sum(get_withdrawal_amount(w) for w in by_sequencer[i]))
                       for i in release_ids),
        slashes=tuple(s.Slash(int(r.sequencer_id), s.SLASH_REASON_BY_NAME[r.reason],
                              get_wei(r.from_locked_wei), get_wei(r.from_pending_wei))
                      for r in slash_records),
        rewards=tuple(rewards),
    )
    if batch.item_count == 0:
        return None
    withdrawal_ids = sorted(int(w.id) for i in release_ids for w in by_sequencer[i])
    return BatchPlan(batch, tuple(withdrawal_ids), tuple(int(r.id) for r in slash_records))


def _mark_batched(kv: KVStore, plan: BatchPlan) -> None:
    nonce = plan.batch.nonce
    for withdrawal in get_withdrawals(kv):
        if withdrawal.id in plan.withdrawal_ids:
            withdrawal.batch_nonce = nonce
            put_withdrawal(kv, withdrawal)
    for slash_id in plan.slash_ids:
        record = get_record(kv, keys.slash_key(slash_id), state.SlashRecord)
        if record is None:
            raise RuntimeError(f"slash {slash_id} is in batch {nonce} but missing from state")
        record.batch_nonce = nonce
        put_record(kv, keys.slash_key(slash_id), record)
    for reward in plan.batch.rewards:
        seq = get_known_sequencer(kv, reward.sequencer_id)
        seq.rewards_batched_wei = format_wei(get_wei(seq.rewards_batched_wei) + reward.amount_wei)
        put_sequencer(kv, seq)


def is_settlement_due(kv: KVStore, height: int, params: Params) -> bool:
    if not is_settlement_enabled(params) or height % params.settlement_interval_blocks != 0:
        return False
    return get_chain_state(kv).in_flight_batch_nonce == 0


def process_settlement_batch(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """At the interval, with no batch in flight, form the next batch if anything is pending."""
    if not is_settlement_due(kv, block.height, params):
        return []
    chain = get_chain_state(kv)
    plan = compute_batch_plan(kv, params, int(chain.last_settled_batch_nonce) + 1)
    if plan is None:
        return []
    digest = s.compute_batch_digest(plan.batch)
    record = state.SettlementBatch(
        nonce=plan.batch.nonce, batch=s.encode_batch(plan.batch), digest=digest,
        status=IN_FLIGHT, formed_height=block.height, withdrawal_ids=plan.withdrawal_ids,
        slash_ids=plan.slash_ids,
        rewards=[state.SettlementReward(sequencer_id=r.sequencer_id,
                                        amount_wei=format_wei(r.amount_wei))
                 for r in plan.batch.rewards])
    put_record(kv, keys.settlement_batch_key(plan.batch.nonce), record)
    _mark_batched(kv, plan)
    chain.in_flight_batch_nonce = plan.batch.nonce
    put_chain_state(kv, chain)
    return [Event("settlement_batch_formed", [
        ("batch_nonce", str(plan.batch.nonce)), ("digest", "0x" + digest.hex()),
        ("items", str(plan.batch.item_count))])]


# --- signatures ------------------------------------------------------------------------------


def process_settlement_signatures(kv: KVStore, block: BlockInput) -> list[Event]:
    """Add each new signer's signature to the in-flight batch (union, ascending signer).

    The relay verified each one against the batch digest and a validator's stored
    signer; collection goes on after completion, so L1 stake added before submission
    cannot leave the batch short.
    """
    batch = get_in_flight_batch(kv)
    if batch is None or not block.settlement_signatures:
        return []
    by_signer = {bytes(sig.signer): bytes(sig.signature) for sig in batch.signatures}
    added = 0
    for signer, signature in block.settlement_signatures:
        if len(signature) != s.SIGNATURE_BYTES or len(signer) != s.ADDRESS_BYTES:
            continue
        if signer not in by_signer:
            by_signer[signer] = signature
            added += 1
    if added == 0:
        return []
    del batch.signatures[:]
    batch.signatures.extend(state.BatchSignatureRecord(signer=signer, signature=by_signer[signer])
                            for signer in sorted(by_signer))
    put_record(kv, keys.settlement_batch_key(batch.nonce), batch)
    progress = get_settlement_progress(kv, batch)
    return [Event("settlement_signatures_added", [
        ("batch_nonce", str(batch.nonce)), ("added", str(added)),
        ("signers", str(len(by_signer))), ("complete", str(progress.complete).lower())])]


# --- settled on L1 ---------------------------------------------------------------------------


def validate_settled_batch(kv: KVStore, batch_nonce: int, digest: bytes) -> state.SettlementBatch:
    """The in-flight batch the event settles; raises BatchMismatchError otherwise."""
    batch = get_in_flight_batch(kv)
    if batch is None:
        raise BatchMismatchError(f"batch_settled: batch {batch_nonce} but none is in flight")
    if batch_nonce != batch.nonce or digest != bytes(batch.digest):
        raise BatchMismatchError(
            f"batch_settled: batch {batch_nonce} digest 0x{digest.hex()} is not the in-flight "
            f"batch {batch.nonce} digest 0x{bytes(batch.digest).hex()}")
    return batch


@dataclass(frozen=True)
class SettledBatch:
    """What settling a batch left to reconcile with L1 (see reconcile_l1_queue)."""

    carried: list[state.SlashRecord]  # shortfalls the next batch takes from L1's queue
    queued: list[state.PendingWithdrawal]  # lock L1 already holds in its queue


def settle_batch(
    kv: KVStore, batch: state.SettlementBatch, height: int, time_ns: int, params: Params
) -> SettledBatch:
    """The contract applied `batch`: each of its items is final."""
    ids = set(batch.withdrawal_ids)
    for withdrawal in get_withdrawals(kv):
        if withdrawal.id in ids:
            withdrawal.released_on_l1 = True
            put_withdrawal(kv, withdrawal)
    rewards = {r.sequencer_id: get_wei(r.amount_wei) for r in batch.rewards}
    # The contract applies the slashes in batch order, each capped at what L1 still locks
    l1_left: dict[int, int] = {}
    carried: list[state.SlashRecord] = []
    for slash_id in batch.slash_ids:
        record = get_record(kv, keys.slash_key(slash_id), state.SlashRecord)
        if record is None:
            raise RuntimeError(f"slash {slash_id} is in batch {batch.nonce} but missing")
        record.settled = True
        put_record(kv, keys.slash_key(slash_id), record)
        sequencer_id = int(record.sequencer_id)
        if sequencer_id not in l1_left:
            l1_left[sequencer_id] = get_l1_locked(get_known_sequencer(kv, sequencer_id))
        taken = min(get_wei(record.from_locked_wei), l1_left[sequencer_id])
        l1_left[sequencer_id] -= taken
        shortfall = get_wei(record.from_locked_wei) - taken
        if shortfall > 0:
            carried.append(carry_slash_shortfall(kv, record, shortfall, height, time_ns))
    queued: list[state.PendingWithdrawal] = []
    for sequencer_id in sorted(set(rewards) | set(l1_left)):
        seq = get_known_sequencer(kv, sequencer_id)
        if sequencer_id in l1_left:
            set_l1_locked(seq, l1_left[sequencer_id])
            queued += reconcile_l1_queue(kv, seq, time_ns, params)
        seq.rewards_settled_wei = format_wei(get_wei(seq.rewards_settled_wei)
                                             + rewards.get(seq.id, 0))
        put_sequencer(kv, seq)
    batch.status = SETTLED
    batch.settled_height = height
    put_record(kv, keys.settlement_batch_key(batch.nonce), batch)
    chain = get_chain_state(kv)
    chain.last_settled_batch_nonce = batch.nonce
    chain.in_flight_batch_nonce = 0
    put_chain_state(kv, chain)
    return SettledBatch(carried, queued)


def carry_slash_shortfall(
    kv: KVStore, record: state.SlashRecord, shortfall_wei: int, height: int, time_ns: int
) -> state.SlashRecord:
    """L1 took `shortfall_wei` less of `record` from the lock than the chain did.

    Its owner queued that stake for withdrawal on L1 after the slash was batched, so
    move_unbatched_slash_to_pending could not move it: it sits in L1's withdrawal queue,
    where the chain never counted it as pending. A new record takes it from there, or it
    would stay in the queue for good (never released, never burned, a full exit never
    ending). Not a new slash: the totals counted it when `record` was applied.
    """
    carry = state.SlashRecord(
        id=allocate_id(kv, "next_slash_id"), sequencer_id=record.sequencer_id,
        reason=record.reason, height=height, time_ns=time_ns,
        from_pending_wei=format_wei(shortfall_wei), from_locked_wei=format_wei(0),
        infraction_height=record.infraction_height, carries_slash_id=record.id)
    put_record(kv, keys.slash_key(carry.id), carry)
    return carry


def reconcile_l1_queue(
    kv: KVStore, seq: state.Sequencer, time_ns: int, params: Params
) -> list[state.PendingWithdrawal]:
    """Queue the chain's lock above L1's, once a batch's slashes are applied on L1.

    Outside settlement the chain's lock never exceeds L1's (the chain slashes first). It
    does when the owner queued stake on L1 while a slash of it was in flight and then
    L1's lock paid that slash after all (a later increaseLock): the stake the chain could
    not queue then sits in L1's queue, and the chain queues it now, so that it is
    released like any withdrawal instead of staying in both places. The caller stores `seq`.
    """
    excess = get_locked(seq) - get_l1_locked(seq)
    if excess <= 0:
        return []
    return [queue_withdrawal(kv, seq, excess, time_ns, params, l1_nonce=0)]


def move_unbatched_slash_to_pending(kv: KVStore, sequencer_id: int, excess_wei: int) -> int:
    """L1 queued `excess_wei` more than the chain holds: lock that unsettled slashes took.

    On L1 that stake now sits in the withdrawal queue, so the slash must take it from
    there: move it from_locked -> from_pending on slash records not yet batched.
    Returns what could not be moved (a slash already in flight).
    """
    for record in _pending_slashes(kv):
        if excess_wei == 0:
            break
        if record.sequencer_id != sequencer_id:
            continue
        take = min(excess_wei, get_wei(record.from_locked_wei))
        record.from_locked_wei = format_wei(get_wei(record.from_locked_wei) - take)
        record.from_pending_wei = format_wei(get_wei(record.from_pending_wei) + take)
        put_record(kv, keys.slash_key(record.id), record)
        excess_wei -= take
    return excess_wei
