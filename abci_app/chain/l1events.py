"""Attested L1 events, applied strictly in nonce order, exactly once.

An event whose nonce is not last_applied + 1 is skipped (gap or duplicate) and
does not change state. An event with the right nonce always consumes it: if
the state machine cannot use it (unknown sequencer, bad field, an amount that
breaks a rule) it is recorded as an L1Noop with its code and reason and has no
other effect. An attested event is a fact, so it never rejects a block.

Each kind of abci_app/l1events_schema.py has one handler here: `validate_*`
runs every check and writes nothing, then `process_*` makes the effect and
raises no AppError. So a rejected event leaves only its noop record and nonce.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from abci_app import pb
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params, is_settlement_enabled
from abci_app.chain.settlement import (
    move_unbatched_slash_to_pending,
    settle_batch,
    validate_settled_batch,
)
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    TOMBSTONED,
    UNLOCKING,
    change_totals,
    format_wei,
    get_chain_state,
    get_l1_locked,
    get_locked,
    get_sequencer,
    get_sequencer_id_by_consensus_address,
    get_unclaimed_rewards,
    parse_wei,
    put_chain_state,
    put_consensus_index,
    put_record,
    put_sequencer,
    set_l1_locked,
    set_locked,
)
from abci_app.chain.types import BlockInput, Event, TxOutcome
from abci_app.chain.withdrawals import (
    queue_withdrawal,
    release_withdrawals,
    update_exit_status,
    validate_release,
)
from abci_app.errors import (
    AppError,
    BatchMismatchError,
    ClaimExceedsRewardsError,
    ConsensusKeyInUseError,
    EmptyL1EventError,
    InsufficientLockError,
    InvalidAmountError,
    InvalidFieldError,
    L1NonceDuplicateError,
    L1NonceGapError,
    NotActiveError,
    SequencerExistsError,
    TombstonedError,
    UnknownSequencerError,
)
from abci_app.l1events_schema import ADDRESS_BYTES, CONSENSUS_KEY_BYTES
from abci_app.store.kv import KVStore
from abci_app.valset import compute_consensus_address

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class L1Context:
    """What a handler reads besides its message and the state."""

    block: BlockInput
    params: Params
    nonce: int  # the event's; a queued withdrawal keeps it


@dataclass(frozen=True, slots=True)
class CheckedL1Event:
    """What validation hands to the effect: the sequencer (for Locked, the new
    one, not yet stored) and the amount the effect moves (0 when none)."""

    seq: state.Sequencer
    amount_wei: int


@dataclass(frozen=True, slots=True)
class L1Handler(Generic[M]):
    validate: Callable[[KVStore, M, L1Context], CheckedL1Event]
    process: Callable[[KVStore, M, CheckedL1Event, L1Context], Event]


# --- checks shared by the handlers; each raises an AppError and writes nothing -------------


def _require_address(value: bytes, field: str) -> None:
    if len(value) != ADDRESS_BYTES:
        raise InvalidFieldError(f"{field}: expected {ADDRESS_BYTES} bytes, got {len(value)}")


def _require_sequencer(kv: KVStore, sequencer_id: int) -> state.Sequencer:
    seq = get_sequencer(kv, sequencer_id)
    if seq is None:
        raise UnknownSequencerError(f"sequencer_id: no sequencer {sequencer_id}")
    return seq


def _require_positive(text: str, field: str) -> int:
    amount = parse_wei(text, field)
    if amount == 0:
        raise InvalidAmountError(f"{field}: must be greater than zero")
    return amount


def _require_status(seq: state.Sequencer, allowed: tuple[int, ...], action: str) -> None:
    if seq.status == TOMBSTONED and TOMBSTONED not in allowed:
        raise TombstonedError(f"sequencer {seq.id} is tombstoned: cannot {action}")
    if seq.status not in allowed:
        raise NotActiveError(f"sequencer {seq.id} has status {seq.status}: cannot {action}")


def _event(kind: str, checked: CheckedL1Event) -> Event:
    return Event(kind, [("sequencer_id", str(checked.seq.id)),
                        ("amount_wei", str(checked.amount_wei))])


# --- one validate_* and one process_* per kind -------------------------------------------


def validate_locked(kv: KVStore, msg: pb.events.Locked, ctx: L1Context) -> CheckedL1Event:
    # Verify the new sequencer's identity and its lock
    if msg.sequencer_id == 0:
        raise InvalidFieldError("locked.sequencer_id: must be >= 1")
    _require_address(msg.owner, "locked.owner")
    _require_address(msg.signer, "locked.signer")
    if len(msg.consensus_pubkey) != CONSENSUS_KEY_BYTES:
        raise InvalidFieldError(f"locked.consensus_pubkey: expected {CONSENSUS_KEY_BYTES} "
                                f"bytes, got {len(msg.consensus_pubkey)}")
    amount = _require_positive(msg.amount_wei, "locked.amount_wei")
    if amount < ctx.params.min_lock_wei:
        raise InsufficientLockError(
            f"locked.amount_wei: {amount} < min_lock {ctx.params.min_lock_wei}")
    # Verify neither the id nor the consensus key is taken
    if get_sequencer(kv, msg.sequencer_id) is not None:
        raise SequencerExistsError(f"locked.sequencer_id: {msg.sequencer_id} already exists")
    address = compute_consensus_address(bytes(msg.consensus_pubkey))
    if get_sequencer_id_by_consensus_address(kv, address) is not None:
        raise ConsensusKeyInUseError(f"locked.consensus_pubkey: address {address.hex()} in use")
    seq = state.Sequencer(
        id=msg.sequencer_id, owner=msg.owner, signer=msg.signer,
        consensus_pubkey=msg.consensus_pubkey, locked_wei=format_wei(amount), status=ACTIVE,
        rewards_accrued_wei="0", rewards_claimed_wei="0", created_height=ctx.block.height,
        l1_locked_wei=format_wei(amount), rewards_batched_wei="0", rewards_settled_wei="0",
    )
    return CheckedL1Event(seq, amount)


def process_locked(
    kv: KVStore, msg: pb.events.Locked, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    put_sequencer(kv, checked.seq)
    put_consensus_index(kv, compute_consensus_address(bytes(checked.seq.consensus_pubkey)),
                        checked.seq.id)
    change_totals(kv, total_locked_ever_wei=checked.amount_wei,
                  total_locked_wei=checked.amount_wei)
    return _event("sequencer_locked", checked)


def validate_lock_increased(
    kv: KVStore, msg: pb.events.LockIncreased, ctx: L1Context
) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    # L1 moved the tokens already (a tombstoned sequencer is Active there): a fact. Refused,
    # the chain's l1_locked would fall behind L1's, and those tokens could never leave.
    _require_status(seq, (ACTIVE, JAILED, TOMBSTONED), "increase its lock")
    amount = _require_positive(msg.amount_wei, "lock_increased.amount_wei")
    if msg.new_total_wei:
        parse_wei(msg.new_total_wei, "lock_increased.new_total_wei")
    return CheckedL1Event(seq, amount)


def process_lock_increased(
    kv: KVStore, msg: pb.events.LockIncreased, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    set_locked(checked.seq, get_locked(checked.seq) + checked.amount_wei)
    new_total = (int(msg.new_total_wei) if msg.new_total_wei
                 else get_l1_locked(checked.seq) + checked.amount_wei)
    set_l1_locked(checked.seq, new_total)
    put_sequencer(kv, checked.seq)
    change_totals(kv, total_locked_ever_wei=checked.amount_wei,
                  total_locked_wei=checked.amount_wei)
    return _event("lock_increased", checked)


def validate_signer_changed(
    kv: KVStore, msg: pb.events.SignerChanged, ctx: L1Context
) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    # A fact of L1 (a tombstoned sequencer is Active there): the chain's signer follows it
    _require_status(seq, (ACTIVE, JAILED, UNLOCKING, TOMBSTONED), "change its signer")
    _require_address(msg.new_signer, "signer_changed.new_signer")
    return CheckedL1Event(seq, 0)


def process_signer_changed(
    kv: KVStore, msg: pb.events.SignerChanged, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    checked.seq.signer = msg.new_signer
    put_sequencer(kv, checked.seq)
    return Event("signer_changed", [("sequencer_id", str(checked.seq.id)),
                                    ("signer", "0x" + bytes(msg.new_signer).hex())])


def validate_withdrawal_requested(
    kv: KVStore, msg: pb.events.WithdrawalRequested, ctx: L1Context
) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    # L1 moved the tokens already: a fact, applied whatever the chain's status
    _require_status(seq, (ACTIVE, JAILED, TOMBSTONED), "withdraw part of its lock")
    amount = _require_positive(msg.amount_wei, "withdrawal_requested.amount_wei")
    if msg.remaining_wei:
        parse_wei(msg.remaining_wei, "withdrawal_requested.remaining_wei")
    return CheckedL1Event(seq, amount)


def process_withdrawal_requested(
    kv: KVStore, msg: pb.events.WithdrawalRequested, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    seq, requested = checked.seq, checked.amount_wei
    # Power goes at once, capped at what the chain still holds (slashes L1 has not seen)
    amount = min(requested, get_locked(seq))
    remaining = (int(msg.remaining_wei) if msg.remaining_wei
                 else max(get_l1_locked(seq) - requested, 0))
    set_l1_locked(seq, remaining)
    move_unbatched_slash_to_pending(kv, int(seq.id), requested - amount)
    withdrawal_id = 0
    if amount > 0:
        withdrawal_id = int(queue_withdrawal(kv, seq, amount, ctx.block.time_ns, ctx.params,
                                             l1_nonce=ctx.nonce).id)
    put_sequencer(kv, seq)
    return Event("withdrawal_queued", [("sequencer_id", str(seq.id)),
                                       ("withdrawal_id", str(withdrawal_id)),
                                       ("amount_wei", str(amount)),
                                       ("requested_wei", str(requested))])


def validate_unlock_initiated(
    kv: KVStore, msg: pb.events.UnlockInitiated, ctx: L1Context
) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_status(seq, (ACTIVE, JAILED, TOMBSTONED), "start a full exit")
    if msg.amount_wei:
        parse_wei(msg.amount_wei, "unlock_initiated.amount_wei")
    # The chain's own lock is authoritative: slashes L1 has not seen are already deducted.
    return CheckedL1Event(seq, get_locked(seq))


def process_unlock_initiated(
    kv: KVStore, msg: pb.events.UnlockInitiated, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    seq = checked.seq
    if msg.amount_wei:
        move_unbatched_slash_to_pending(
            kv, int(seq.id), max(parse_wei(msg.amount_wei) - checked.amount_wei, 0))
    set_l1_locked(seq, 0)
    if checked.amount_wei > 0:
        queue_withdrawal(kv, seq, checked.amount_wei, ctx.block.time_ns, ctx.params,
                         l1_nonce=ctx.nonce, full_exit=True)
    if seq.status != TOMBSTONED:
        seq.status = UNLOCKING
    update_exit_status(kv, seq)
    return _event("unlock_initiated", checked)


def validate_released(kv: KVStore, msg: pb.events.Released, ctx: L1Context) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_address(msg.to, "released.to")
    amount = _require_positive(msg.amount_wei, "released.amount_wei")
    validate_release(kv, seq, amount)
    return CheckedL1Event(seq, amount)


def process_released(
    kv: KVStore, msg: pb.events.Released, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    release_withdrawals(kv, checked.seq, checked.amount_wei)
    return _event("withdrawal_released", checked)


def validate_rewards_claimed(
    kv: KVStore, msg: pb.events.RewardsClaimed, ctx: L1Context
) -> CheckedL1Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_address(msg.to, "rewards_claimed.to")
    amount = _require_positive(msg.amount_wei, "rewards_claimed.amount_wei")
    unclaimed = get_unclaimed_rewards(seq)
    if amount > unclaimed:
        raise ClaimExceedsRewardsError(f"claimed {amount} wei > unclaimed {unclaimed} wei")
    return CheckedL1Event(seq, amount)


def process_rewards_claimed(
    kv: KVStore, msg: pb.events.RewardsClaimed, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    seq = checked.seq
    seq.rewards_claimed_wei = format_wei(int(seq.rewards_claimed_wei or "0") + checked.amount_wei)
    put_sequencer(kv, seq)
    change_totals(kv, total_rewards_claimed_wei=checked.amount_wei)
    return _event("rewards_claimed", checked)


def validate_batch_settled(
    kv: KVStore, msg: pb.events.BatchSettled, ctx: L1Context
) -> CheckedL1Event:
    if not is_settlement_enabled(ctx.params):
        raise BatchMismatchError("batch_settled: settlement is off (params.l1_chain_id 0)")
    nonce = parse_wei(msg.batch_nonce, "batch_settled.batch_nonce")
    validate_settled_batch(kv, nonce, bytes(msg.digest))
    # No sequencer: the whole batch is the subject
    return CheckedL1Event(state.Sequencer(), nonce)


def process_batch_settled(
    kv: KVStore, msg: pb.events.BatchSettled, checked: CheckedL1Event, ctx: L1Context
) -> Event:
    batch = validate_settled_batch(kv, checked.amount_wei, bytes(msg.digest))
    settled = settle_batch(kv, batch, ctx.block.height, ctx.block.time_ns, ctx.params)
    attributes = [("batch_nonce", str(batch.nonce)), ("digest", "0x" + bytes(batch.digest).hex())]
    if settled.carried:  # a slash L1 capped at the lock: the rest comes from its queue
        attributes.append(("carried_slash_ids", ",".join(str(r.id) for r in settled.carried)))
    if settled.queued:  # stake L1 had queued while a slash of it was in flight
        attributes.append(("queued_withdrawal_ids",
                           ",".join(str(w.id) for w in settled.queued)))
    return Event("settlement_batch_settled", attributes)


# Keyed by the L1Event oneof fields of abci_app/l1events_schema.EVENT_KINDS (a test checks
# that every kind has one). Any: each handler takes its own kind's message type.
L1_HANDLERS: dict[str, L1Handler[Any]] = {
    "locked": L1Handler(validate_locked, process_locked),
    "lock_increased": L1Handler(validate_lock_increased, process_lock_increased),
    "signer_changed": L1Handler(validate_signer_changed, process_signer_changed),
    "withdrawal_requested": L1Handler(validate_withdrawal_requested,
                                      process_withdrawal_requested),
    "unlock_initiated": L1Handler(validate_unlock_initiated, process_unlock_initiated),
    "released": L1Handler(validate_released, process_released),
    "rewards_claimed": L1Handler(validate_rewards_claimed, process_rewards_claimed),
    "batch_settled": L1Handler(validate_batch_settled, process_batch_settled),
}


# --- entry points ----------------------------------------------------------------------


def _record_noop(kv: KVStore, nonce: int, exc: AppError, height: int) -> TxOutcome:
    noop = state.L1Noop(nonce=nonce, code=exc.code, reason=exc.message, height=height)
    put_record(kv, keys.l1_noop_key(nonce), noop)
    return TxOutcome(exc.code, exc.message, events=[Event("l1_event_noop", [
        ("nonce", str(nonce)), ("code", str(exc.code)), ("reason", exc.message)])])


def process_l1_event(
    kv: KVStore, event: pb.events.L1Event, block: BlockInput, params: Params
) -> TxOutcome:
    """Apply one event if its nonce is next; a usable-or-not event consumes its nonce."""
    # Verify the nonce is the next one: otherwise the event is skipped, not consumed
    last = int(get_chain_state(kv).last_l1_nonce)
    if event.nonce <= last:
        err: AppError = L1NonceDuplicateError(f"nonce {event.nonce} <= last applied {last}")
        return TxOutcome(err.code, err.message)
    if event.nonce != last + 1:
        err = L1NonceGapError(f"nonce {event.nonce} != last applied {last} + 1")
        return TxOutcome(err.code, err.message)
    ctx = L1Context(block, params, int(event.nonce))
    kind = str(event.WhichOneof("kind"))
    handler = L1_HANDLERS.get(kind)
    try:
        if handler is None:
            raise EmptyL1EventError(f"l1 event {event.nonce}: no known kind")
        msg = getattr(event, kind)
        checked = handler.validate(kv, msg, ctx)
    except AppError as exc:
        outcome = _record_noop(kv, int(event.nonce), exc, block.height)
    else:
        outcome = TxOutcome(0, "", events=[handler.process(kv, msg, checked, ctx)])
    chain = get_chain_state(kv)
    chain.last_l1_nonce = event.nonce
    put_chain_state(kv, chain)
    return outcome


def process_l1_events(
    kv: KVStore, events: list[pb.events.L1Event], block: BlockInput, params: Params
) -> list[TxOutcome]:
    return [process_l1_event(kv, event, block, params) for event in events]
