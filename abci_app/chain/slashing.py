"""Jailing and slashing: downtime (decided_last_commit) and double signing (misbehavior).

Slash amount = stake_at_risk * fraction_bps // 10000, rounded down (in the
sequencer's favour: a slash never exceeds its fraction). Stake at risk is the
lock plus withdrawals still in their delay. The slash takes from those pending
withdrawals first, oldest first, then from the lock, and is recorded.
"""

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import (
    BPS_DENOMINATOR,
    NS_PER_S,
    Params,
    compute_max_missed_blocks,
)
from abci_app.chain.state import (
    ACTIVE,
    EXITED,
    JAILED,
    TOMBSTONED,
    allocate_id,
    change_totals,
    format_wei,
    get_locked,
    get_record,
    get_sequencer,
    get_sequencer_id_by_consensus_address,
    put_record,
    set_locked,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.chain.validators import get_validator_set
from abci_app.chain.withdrawals import (
    get_withdrawal_amount,
    get_withdrawals,
    put_withdrawal,
    update_exit_status,
)
from abci_app.store.kv import KVStore

TOMBSTONE_JAIL_UNTIL_NS = 2**63 - 1
MISBEHAVIOR_KINDS = ("duplicate_vote", "light_client_attack")


def compute_slash_amount(stake_wei: int, fraction_bps: int) -> int:
    return stake_wei * fraction_bps // BPS_DENOMINATOR


def jail_sequencer(seq: state.Sequencer, until_ns: int) -> bool:
    """ACTIVE -> JAILED until `until_ns`. Returns whether the status changed."""
    if seq.status != ACTIVE:
        return False
    seq.status = JAILED
    seq.jailed_until_ns = max(int(seq.jailed_until_ns), until_ns)
    return True


def slash_sequencer(
    kv: KVStore, seq: state.Sequencer, fraction_bps: int, reason: str, infraction_height: int,
    block: BlockInput,
) -> state.SlashRecord:
    """Burn a fraction of the stake at risk; pending withdrawals pay first. Stores `seq`."""
    pending = [w for w in get_withdrawals(kv, seq.id) if not w.releasable]
    at_risk = get_locked(seq) + sum(get_withdrawal_amount(w) for w in pending)
    remaining = compute_slash_amount(at_risk, fraction_bps)
    from_pending = 0
    for withdrawal in pending:
        take = min(remaining, get_withdrawal_amount(withdrawal))
        if take == 0:
            break
        withdrawal.amount_wei = format_wei(get_withdrawal_amount(withdrawal) - take)
        withdrawal.slashed_wei = format_wei(int(withdrawal.slashed_wei or "0") + take)
        put_withdrawal(kv, withdrawal)
        from_pending += take
        remaining -= take
    from_locked = remaining
    set_locked(seq, get_locked(seq) - from_locked)
    change_totals(kv, total_pending_wei=-from_pending, total_locked_wei=-from_locked,
                  total_slashed_wei=from_pending + from_locked)
    record = state.SlashRecord(
        id=allocate_id(kv, "next_slash_id"), sequencer_id=seq.id, reason=reason,
        height=block.height, time_ns=block.time_ns, fraction_bps=fraction_bps,
        from_pending_wei=format_wei(from_pending), from_locked_wei=format_wei(from_locked),
        infraction_height=infraction_height,
    )
    put_record(kv, keys.slash_key(record.id), record)
    update_exit_status(kv, seq)
    return record


def _slash_event(kind: str, seq: state.Sequencer, record: state.SlashRecord) -> Event:
    return Event(kind, [
        ("sequencer_id", str(seq.id)),
        ("from_pending_wei", record.from_pending_wei),
        ("from_locked_wei", record.from_locked_wei),
        ("fraction_bps", str(record.fraction_bps)),
    ])


# --- downtime -----------------------------------------------------------------------------


def get_signing_info(
    kv: KVStore, sequencer_id: int, start_height: int, params: Params
) -> state.SigningInfo:
    info = get_record(kv, keys.signing_info_key(sequencer_id), state.SigningInfo)
    if info is None:
        info = state.SigningInfo(
            sequencer_id=sequencer_id, start_height=start_height,
            missed_bits=bytes((params.signed_blocks_window + 7) // 8),
        )
    return info


def reset_signing_info(kv: KVStore, sequencer_id: int) -> None:
    """Forget the window; a fresh record starts with the next counted vote."""
    kv.delete(keys.signing_info_key(sequencer_id))


def record_vote(info: state.SigningInfo, params: Params, *, signed: bool) -> None:
    """Advance the sliding window by one vote (cosmos-sdk x/slashing bit array)."""
    index = int(info.index_offset) % params.signed_blocks_window
    info.index_offset += 1
    bits = bytearray(info.missed_bits)
    was_missed = bool(bits[index // 8] >> (index % 8) & 1)
    missed = not signed
    if was_missed and not missed:
        bits[index // 8] &= ~(1 << (index % 8)) & 0xFF
        info.missed_blocks -= 1
    elif missed and not was_missed:
        bits[index // 8] |= 1 << (index % 8)
        info.missed_blocks += 1
    info.missed_bits = bytes(bits)


def process_downtime(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Count decided_last_commit against the set that signed H-1; jail and slash the absent."""
    events: list[Event] = []
    signers = {e.address: e for e in get_validator_set(kv, block.height - 1)}
    seen: set[bytes] = set()  # membership only, never iterated
    for vote in block.decided_last_commit:
        entry = signers.get(vote.address)
        if entry is None or vote.address in seen:
            events.append(Event("vote_ignored", [("address", vote.address.hex()),
                                                 ("reason", "unknown or duplicate address")]))
            continue
        seen.add(vote.address)
        events += _process_vote(kv, entry.sequencer_id, vote.present, block, params)
    return events


def _process_vote(
    kv: KVStore, sequencer_id: int, signed: bool, block: BlockInput, params: Params
) -> list[Event]:
    seq = get_sequencer(kv, sequencer_id)
    if seq is None or seq.status != ACTIVE:
        return []
    info = get_signing_info(kv, sequencer_id, block.height - 1, params)
    record_vote(info, params, signed=signed)
    # Verify a full window was observed and too many votes were missed in it
    window_full = info.index_offset >= params.signed_blocks_window
    if not (window_full and info.missed_blocks > compute_max_missed_blocks(params)):
        put_record(kv, keys.signing_info_key(sequencer_id), info)
        return []
    jail_sequencer(seq, block.time_ns + params.downtime_jail_s * NS_PER_S)
    record = slash_sequencer(kv, seq, params.downtime_slash_bps, "downtime",
                             block.height - 1, block)
    reset_signing_info(kv, sequencer_id)
    return [_slash_event("downtime_slash", seq, record)]


# --- double signing -------------------------------------------------------------------


def process_misbehavior(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Slash double_sign_slash_bps and tombstone. Unknown, stale or repeat evidence is ignored."""
    events: list[Event] = []
    for evidence in block.misbehavior:
        seq_id = get_sequencer_id_by_consensus_address(kv, evidence.address)
        seq = None if seq_id is None else get_sequencer(kv, seq_id)
        reason = _evidence_ignore_reason(evidence.kind, evidence.height, seq, block, params)
        if reason or seq is None:
            events.append(Event("evidence_ignored", [
                ("address", evidence.address.hex()), ("reason", reason)]))
            continue
        seq.status = TOMBSTONED
        seq.jailed_until_ns = TOMBSTONE_JAIL_UNTIL_NS
        record = slash_sequencer(kv, seq, params.double_sign_slash_bps, "double_sign",
                                 evidence.height, block)
        reset_signing_info(kv, seq.id)
        events.append(_slash_event("double_sign_slash", seq, record))
    return events


def _evidence_ignore_reason(
    kind: str, height: int, seq: state.Sequencer | None, block: BlockInput, params: Params
) -> str:
    if kind not in MISBEHAVIOR_KINDS:
        return f"unknown kind {kind!r}"
    if seq is None:
        return "unknown validator"
    if seq.status in (TOMBSTONED, EXITED):
        return "already tombstoned or exited"
    if block.height - height > params.max_evidence_age_blocks or height < seq.created_height:
        return "stale evidence"
    return ""
