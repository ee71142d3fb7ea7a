"""Typed access to the chain's records in a KVStore.

Records are protobuf (state.proto) stored with deterministic serialization.
Amounts inside them are canonical decimal wei strings; these helpers turn them
into ints at the edge so the transitions only do integer math.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from google.protobuf.message import Message

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import (
    Params,
    compute_params_from_proto,
    compute_params_proto,
    compute_power,
)
from abci_app.errors import InvalidAmountError
from abci_app.store.kv import KVStore

_CANONICAL_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,77})")
UINT256_MAX = 2**256 - 1

Status = state.SequencerStatus
ACTIVE = state.SEQUENCER_STATUS_ACTIVE
JAILED = state.SEQUENCER_STATUS_JAILED
UNLOCKING = state.SEQUENCER_STATUS_UNLOCKING
EXITED = state.SEQUENCER_STATUS_EXITED
TOMBSTONED = state.SEQUENCER_STATUS_TOMBSTONED
STATUS_NAMES: dict[Status.ValueType, str] = {
    ACTIVE: "active", JAILED: "jailed", UNLOCKING: "unlocking", EXITED: "exited",
    TOMBSTONED: "tombstoned"}


def parse_wei(text: object, field: str = "amount_wei") -> int:
    """A canonical decimal uint256: no sign, no leading zeros, at most 78 digits."""
    if not isinstance(text, str) or not _CANONICAL_DECIMAL.fullmatch(text):
        raise InvalidAmountError(f"{field}: {text!r} is not a canonical decimal wei amount")
    value = int(text)
    if value > UINT256_MAX:
        raise InvalidAmountError(f"{field}: {text} exceeds uint256")
    return value


def format_wei(value: int) -> str:
    if value < 0:
        raise ValueError(f"negative amount {value}")
    return str(value)


M = TypeVar("M", bound=Message)


def _encode(msg: Message) -> bytes:
    return bytes(msg.SerializeToString(deterministic=True))


def _load(kv: KVStore, key: bytes, cls: type[M]) -> M | None:
    raw = kv.get(key)
    if raw is None:
        return None
    msg = cls()
    msg.ParseFromString(raw)
    return msg


# --- params, chain state, totals ----------------------------------------------------


def get_params(kv: KVStore) -> Params:
    raw = kv.get(keys.PARAMS)
    if raw is None:
        raise RuntimeError("chain params missing: init_chain has not run")
    return _compute_params_from_bytes(bytes(raw))


# Read several times per block; a pure function of the bytes into a frozen Params, so
# memoising it cannot affect determinism.
@lru_cache(maxsize=8)
def _compute_params_from_bytes(raw: bytes) -> Params:
    msg = state.Params()
    msg.ParseFromString(raw)
    return compute_params_from_proto(msg)


def put_params(kv: KVStore, params: Params) -> None:
    kv.set(keys.PARAMS, _encode(compute_params_proto(params)))


def get_chain_state(kv: KVStore) -> state.ChainState:
    msg = _load(kv, keys.CHAIN_STATE, state.ChainState)
    return msg if msg is not None else state.ChainState()


def put_chain_state(kv: KVStore, chain: state.ChainState) -> None:
    kv.set(keys.CHAIN_STATE, _encode(chain))


def get_last_applied_l1_nonce(kv: KVStore) -> int:
    return int(get_chain_state(kv).last_l1_nonce)


TOTAL_FIELDS = ("total_locked_ever_wei", "total_locked_wei", "total_pending_wei",
                "total_released_wei", "total_slashed_wei", "total_rewards_accrued_wei",
                "total_rewards_claimed_wei")


def get_totals(kv: KVStore) -> dict[str, int]:
    msg = _load(kv, keys.TOTALS, state.Totals) or state.Totals()
    return {name: int(getattr(msg, name) or "0") for name in TOTAL_FIELDS}


def change_totals(kv: KVStore, **deltas: int) -> None:
    """Add each delta (may be negative) to its total; a total never goes below zero."""
    totals = get_totals(kv)
    for name in sorted(deltas):
        totals[name] += deltas[name]
        if totals[name] < 0:
            raise RuntimeError(f"{name} would be negative: {totals[name]}")
    put_totals(kv, totals)


def put_totals(kv: KVStore, totals: dict[str, int]) -> None:
    msg = state.Totals(**{name: format_wei(totals[name]) for name in TOTAL_FIELDS})
    kv.set(keys.TOTALS, _encode(msg))


# --- sequencers -----------------------------------------------------------------------


def get_sequencer(kv: KVStore, sequencer_id: int) -> state.Sequencer | None:
    return _load(kv, keys.sequencer_key(sequencer_id), state.Sequencer)


def get_known_sequencer(kv: KVStore, sequencer_id: int) -> state.Sequencer:
    """For an id the state itself holds (schedule, index, queue): absence is a bug."""
    seq = get_sequencer(kv, sequencer_id)
    if seq is None:
        raise RuntimeError(f"sequencer {sequencer_id} is referenced but missing from state")
    return seq


def get_sequencers(kv: KVStore) -> list[state.Sequencer]:
    """All sequencers, ascending id."""
    out: list[state.Sequencer] = []
    for _, raw in kv.iterate(keys.SEQUENCER_PREFIX):
        seq = state.Sequencer()
        seq.ParseFromString(raw)
        out.append(seq)
    return out


def put_sequencer(kv: KVStore, seq: state.Sequencer) -> None:
    """The one write path of a sequencer: it keeps the indexes in step (see below)."""
    key = keys.sequencer_key(seq.id)
    old = _load(kv, key, state.Sequencer)
    kv.set(key, _encode(seq))
    update_sequencer_indexes(kv, old, seq, get_params(kv))


# --- sequencer indexes -----------------------------------------------------------------
# Derived from the sequencer records alone (params never change after genesis), stored
# in the Merkle tree so that a restored or state-synced node holds them too. They turn
# "read and sort every sequencer" into reading a few index entries per block.


def is_eligible_validator(seq: state.Sequencer, params: Params) -> bool:
    stake = get_stake(seq)
    return (bool(seq.status == ACTIVE) and stake >= params.min_lock_wei
            and compute_power(stake, params) > 0)


@dataclass(frozen=True, slots=True)
class ValidatorIndexItem:
    """One eligible sequencer as the validator index holds it."""

    sequencer_id: int
    power: int
    pub_key: bytes
    producer_jailed_until_ns: int


def compute_validator_index_entry(
    seq: state.Sequencer, params: Params
) -> tuple[bytes, bytes] | None:
    """(key, value) of `seq` in the validator index; None when it is not eligible.
    The value carries what the rotation needs: producer-jail time, then the pub key."""
    if not is_eligible_validator(seq, params):
        return None
    key = keys.validator_index_key(compute_power(get_stake(seq), params), int(seq.id))
    jailed_until = max(int(seq.producer_jailed_until_ns), 0)
    return key, keys.encode_u64(jailed_until) + bytes(seq.consensus_pubkey)


def is_reward_pending(seq: state.Sequencer) -> bool:
    """Rewards accrued but not yet in a settlement batch."""
    return int(seq.rewards_accrued_wei or "0") > int(seq.rewards_batched_wei or "0")


def update_sequencer_indexes(
    kv: KVStore, old: state.Sequencer | None, new: state.Sequencer, params: Params
) -> None:
    """Move `new` in each index where it differs from `old`; touch nothing otherwise."""
    old_entry = None if old is None else compute_validator_index_entry(old, params)
    new_entry = compute_validator_index_entry(new, params)
    if old_entry != new_entry:
        if old_entry is not None:
            kv.delete(old_entry[0])
        if new_entry is not None:
            kv.set(*new_entry)
    if old is None or bytes(old.signer) != bytes(new.signer):
        if old is not None:
            kv.delete(keys.signer_index_key(bytes(old.signer), int(old.id)))
        kv.set(keys.signer_index_key(bytes(new.signer), int(new.id)), b"")
    was_pending = old is not None and is_reward_pending(old)
    if is_reward_pending(new) and not was_pending:
        kv.set(keys.reward_index_key(int(new.id)), b"")
    elif was_pending and not is_reward_pending(new):
        kv.delete(keys.reward_index_key(int(new.id)))


def get_validator_index(kv: KVStore, limit: int) -> list[ValidatorIndexItem]:
    """The first `limit` eligible sequencers, (power desc, id asc)."""
    out: list[ValidatorIndexItem] = []
    if limit <= 0:
        return out
    for key, value in kv.iterate(keys.VALIDATOR_INDEX_PREFIX):
        power, sequencer_id = keys.decode_validator_index_key(key)
        out.append(ValidatorIndexItem(sequencer_id, power, value[8:], keys.decode_u64(value[:8])))
        if len(out) == limit:
            break
    return out


def get_sequencer_id_by_signer(kv: KVStore, signer: bytes) -> int | None:
    """The lowest id among the sequencers whose signer is `signer`."""
    prefix = keys.signer_index_prefix(signer)
    for key, _ in kv.iterate(prefix):
        return keys.decode_u64(key[len(prefix):])
    return None


def get_reward_pending_ids(kv: KVStore, limit: int) -> list[int]:
    """Up to `limit` sequencers with rewards not yet batched, ascending id."""
    out: list[int] = []
    if limit <= 0:
        return out
    for key, _ in kv.iterate(keys.REWARD_INDEX_PREFIX):
        out.append(keys.decode_u64(key[len(keys.REWARD_INDEX_PREFIX):]))
        if len(out) == limit:
            break
    return out


def get_locked(seq: state.Sequencer) -> int:
    return int(seq.locked_wei or "0")


def set_locked(seq: state.Sequencer, amount_wei: int) -> None:
    seq.locked_wei = format_wei(amount_wei)


def get_l1_locked(seq: state.Sequencer) -> int:
    return int(seq.l1_locked_wei or "0")


def set_l1_locked(seq: state.Sequencer, amount_wei: int) -> None:
    seq.l1_locked_wei = format_wei(amount_wei)


def get_stake(seq: state.Sequencer) -> int:
    """What both sides hold: power never exceeds the smaller of the two locks."""
    return min(get_locked(seq), get_l1_locked(seq))


def get_wei(text: str) -> int:
    """A stored amount field ("" reads as 0)."""
    return int(text or "0")


def get_unclaimed_rewards(seq: state.Sequencer) -> int:
    return int(seq.rewards_accrued_wei or "0") - int(seq.rewards_claimed_wei or "0")


def get_sequencer_id_by_consensus_address(kv: KVStore, address: bytes) -> int | None:
    raw = kv.get(keys.consensus_index_key(address))
    return None if raw is None else keys.decode_u64(raw)


def put_consensus_index(kv: KVStore, address: bytes, sequencer_id: int) -> None:
    kv.set(keys.consensus_index_key(address), keys.encode_u64(sequencer_id))


# --- accounts ----------------------------------------------------------------------------


def get_account_nonce(kv: KVStore, address: bytes) -> int:
    msg = _load(kv, keys.account_key(address), state.Account)
    return 0 if msg is None else int(msg.nonce)


def put_account_nonce(kv: KVStore, address: bytes, nonce: int) -> None:
    kv.set(keys.account_key(address), _encode(state.Account(address=address, nonce=nonce)))


# --- generic record lists ---------------------------------------------------------------


def get_records(kv: KVStore, prefix: bytes, cls: type[M]) -> list[M]:
    out: list[M] = []
    for _, raw in kv.iterate(prefix):
        msg = cls()
        msg.ParseFromString(raw)
        out.append(msg)
    return out


def put_record(kv: KVStore, key: bytes, msg: Message) -> None:
    kv.set(key, _encode(msg))


def get_record(kv: KVStore, key: bytes, cls: type[M]) -> M | None:
    return _load(kv, key, cls)


def allocate_id(kv: KVStore, field: str) -> int:
    """Next id from ChainState.next_withdrawal_id / next_slash_id (ids start at 1)."""
    chain = get_chain_state(kv)
    value = max(1, int(getattr(chain, field)))
    setattr(chain, field, value + 1)
    put_chain_state(kv, chain)
    return value
