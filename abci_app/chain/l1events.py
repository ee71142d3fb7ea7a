"""Attested L1 events, applied strictly in nonce order, exactly once.

An event whose nonce is not last_applied + 1 is skipped (gap or duplicate) and
does not change state. An event with the right nonce always consumes it: if
the state machine cannot use it (unknown sequencer, bad field, an amount that
breaks a rule) it is recorded as an L1Noop with its code and reason and has no
other effect. An attested event is a fact, so it never rejects a block.
"""

from typing import Any

from abci_app import pb
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    TOMBSTONED,
    UNLOCKING,
    change_totals,
    format_wei,
    get_chain_state,
    get_locked,
    get_sequencer,
    get_sequencer_id_by_consensus_address,
    get_unclaimed_rewards,
    parse_wei,
    put_chain_state,
    put_consensus_index,
    put_record,
    put_sequencer,
    set_locked,
)
from abci_app.chain.types import BlockInput, Event, TxOutcome
from abci_app.chain.withdrawals import queue_withdrawal, release_withdrawals, update_exit_status
from abci_app.errors import (
    AppError,
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
from abci_app.store.kv import KVStore
from abci_app.valset import compute_consensus_address

ADDRESS_BYTES = 20
ED25519_PUBKEY_BYTES = 32


def _require_address(value: bytes, field: str) -> None:
    if len(value) != ADDRESS_BYTES:
        raise InvalidFieldError(f"{field}: expected {ADDRESS_BYTES} bytes, got {len(value)}")


def _require_sequencer(kv: KVStore, sequencer_id: int) -> Any:
    seq = get_sequencer(kv, sequencer_id)
    if seq is None:
        raise UnknownSequencerError(f"sequencer_id: no sequencer {sequencer_id}")
    return seq


def _require_positive(text: str, field: str) -> int:
    amount = parse_wei(text, field)
    if amount == 0:
        raise InvalidAmountError(f"{field}: must be greater than zero")
    return amount


def _require_status(seq: Any, allowed: tuple[int, ...], action: str) -> None:
    if seq.status == TOMBSTONED and TOMBSTONED not in allowed:
        raise TombstonedError(f"sequencer {seq.id} is tombstoned: cannot {action}")
    if seq.status not in allowed:
        raise NotActiveError(f"sequencer {seq.id} has status {seq.status}: cannot {action}")


def process_locked(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    # Verify the new sequencer's identity and its lock
    if msg.sequencer_id == 0:
        raise InvalidFieldError("locked.sequencer_id: must be >= 1")
    _require_address(msg.owner, "locked.owner")
    _require_address(msg.signer, "locked.signer")
    if len(msg.consensus_pubkey) != ED25519_PUBKEY_BYTES:
        raise InvalidFieldError(f"locked.consensus_pubkey: expected 32 bytes, "
                                f"got {len(msg.consensus_pubkey)}")
    amount = _require_positive(msg.amount_wei, "locked.amount_wei")
    if amount < params.min_lock_wei:
        raise InsufficientLockError(
            f"locked.amount_wei: {amount} < min_lock {params.min_lock_wei}")
    if get_sequencer(kv, msg.sequencer_id) is not None:
        raise SequencerExistsError(f"locked.sequencer_id: {msg.sequencer_id} already exists")
    address = compute_consensus_address(bytes(msg.consensus_pubkey))
    if get_sequencer_id_by_consensus_address(kv, address) is not None:
        raise ConsensusKeyInUseError(f"locked.consensus_pubkey: address {address.hex()} in use")
    seq = state.Sequencer(
        id=msg.sequencer_id, owner=msg.owner, signer=msg.signer,
        consensus_pubkey=msg.consensus_pubkey, locked_wei=format_wei(amount), status=ACTIVE,
        rewards_accrued_wei="0", rewards_claimed_wei="0", created_height=block.height,
    )
    put_sequencer(kv, seq)
    put_consensus_index(kv, address, seq.id)
    change_totals(kv, total_locked_ever_wei=amount, total_locked_wei=amount)
    return Event("sequencer_locked", [("sequencer_id", str(seq.id)), ("amount_wei", str(amount))])


def process_lock_increased(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_status(seq, (ACTIVE, JAILED), "increase its lock")
    amount = _require_positive(msg.amount_wei, "lock_increased.amount_wei")
    set_locked(seq, get_locked(seq) + amount)
    put_sequencer(kv, seq)
    change_totals(kv, total_locked_ever_wei=amount, total_locked_wei=amount)
    return Event("lock_increased", [("sequencer_id", str(seq.id)), ("amount_wei", str(amount))])


def process_signer_changed(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_status(seq, (ACTIVE, JAILED, UNLOCKING), "change its signer")
    _require_address(msg.new_signer, "signer_changed.new_signer")
    seq.signer = msg.new_signer
    put_sequencer(kv, seq)
    return Event("signer_changed", [("sequencer_id", str(seq.id)),
                                    ("signer", "0x" + bytes(msg.new_signer).hex())])


def process_withdrawal_requested(
    kv: KVStore, msg: Any, block: BlockInput, params: Params
) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_status(seq, (ACTIVE, JAILED), "withdraw part of its lock")
    amount = _require_positive(msg.amount_wei, "withdrawal_requested.amount_wei")
    # Verify the lock stays at or above min_lock (a full exit is UnlockInitiated)
    locked = get_locked(seq)
    if amount > locked or locked - amount < params.min_lock_wei:
        raise InsufficientLockError(
            f"insufficient lock: requested {amount} would leave {max(locked - amount, 0)} "
            f"< min_lock {params.min_lock_wei} (locked {locked})")
    withdrawal = queue_withdrawal(kv, seq, amount, block.time_ns, params, False, 0)
    put_sequencer(kv, seq)
    return Event("withdrawal_queued", [("sequencer_id", str(seq.id)),
                                       ("withdrawal_id", str(withdrawal.id)),
                                       ("amount_wei", str(amount))])


def process_unlock_initiated(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_status(seq, (ACTIVE, JAILED, TOMBSTONED), "start a full exit")
    # The chain's own lock is authoritative: slashes L1 has not seen are already deducted.
    locked = get_locked(seq)
    if locked > 0:
        queue_withdrawal(kv, seq, locked, block.time_ns, params, True, 0)
    if seq.status != TOMBSTONED:
        seq.status = UNLOCKING
    update_exit_status(kv, seq)
    return Event("unlock_initiated", [("sequencer_id", str(seq.id)), ("amount_wei", str(locked))])


def process_released(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_address(msg.to, "released.to")
    amount = _require_positive(msg.amount_wei, "released.amount_wei")
    release_withdrawals(kv, seq, amount)
    return Event("withdrawal_released", [("sequencer_id", str(seq.id)),
                                         ("amount_wei", str(amount))])


def process_rewards_claimed(kv: KVStore, msg: Any, block: BlockInput, params: Params) -> Event:
    seq = _require_sequencer(kv, msg.sequencer_id)
    _require_address(msg.to, "rewards_claimed.to")
    amount = _require_positive(msg.amount_wei, "rewards_claimed.amount_wei")
    unclaimed = get_unclaimed_rewards(seq)
    if amount > unclaimed:
        raise ClaimExceedsRewardsError(f"claimed {amount} wei > unclaimed {unclaimed} wei")
    seq.rewards_claimed_wei = format_wei(int(seq.rewards_claimed_wei or "0") + amount)
    put_sequencer(kv, seq)
    change_totals(kv, total_rewards_claimed_wei=amount)
    return Event("rewards_claimed", [("sequencer_id", str(seq.id)), ("amount_wei", str(amount))])


_HANDLERS = {
    "locked": process_locked,
    "lock_increased": process_lock_increased,
    "signer_changed": process_signer_changed,
    "withdrawal_requested": process_withdrawal_requested,
    "unlock_initiated": process_unlock_initiated,
    "released": process_released,
    "rewards_claimed": process_rewards_claimed,
}


def process_l1_event(kv: KVStore, event: Any, block: BlockInput, params: Params) -> TxOutcome:
    """Apply one event if its nonce is next; a usable-or-not event consumes its nonce."""
    last = int(get_chain_state(kv).last_l1_nonce)
    if event.nonce <= last:
        err: AppError = L1NonceDuplicateError(f"nonce {event.nonce} <= last applied {last}")
        return TxOutcome(err.code, err.message)
    if event.nonce != last + 1:
        err = L1NonceGapError(f"nonce {event.nonce} != last applied {last} + 1")
        return TxOutcome(err.code, err.message)
    kind = event.WhichOneof("kind")
    try:
        if kind not in _HANDLERS:
            raise EmptyL1EventError(f"l1 event {event.nonce}: no known kind")
        applied = _HANDLERS[kind](kv, getattr(event, kind), block, params)
        outcome = TxOutcome(0, "", events=[applied])
    except AppError as exc:
        noop = state.L1Noop(nonce=event.nonce, code=exc.code, reason=exc.message,
                            height=block.height)
        put_record(kv, keys.l1_noop_key(event.nonce), noop)
        outcome = TxOutcome(exc.code, exc.message, events=[Event("l1_event_noop", [
            ("nonce", str(event.nonce)), ("code", str(exc.code)), ("reason", exc.message)])])
    chain = get_chain_state(kv)
    chain.last_l1_nonce = event.nonce
    put_chain_state(kv, chain)
    return outcome


def process_l1_events(
    kv: KVStore, events: list[pb.events.L1Event], block: BlockInput, params: Params
) -> list[TxOutcome]:
    return [process_l1_event(kv, event, block, params) for event in events]
