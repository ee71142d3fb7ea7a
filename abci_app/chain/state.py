"""Typed access to the chain's records in a KVStore.

Records are protobuf (state.proto) stored with deterministic serialization.
Amounts inside them are canonical decimal wei strings; these helpers turn them
into ints at the edge so the transitions only do integer math.
"""

import re
from typing import TypeVar

from google.protobuf.message import Message

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params, compute_params_from_proto, compute_params_proto
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
    msg = _load(kv, keys.PARAMS, state.Params)
    if msg is None:
        raise RuntimeError("chain params missing: init_chain has not run")
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
    kv.set(keys.sequencer_key(seq.id), _encode(seq))


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
