"""CometBFT's validator set: the active, unjailed sequencers, top max_validators by power.

Ordering and tie-break: power descending, then sequencer id ascending.
Power is stake // power_reduction (rounded down), capped so that the whole set
stays under CometBFT's MaxTotalVotingPower, where stake = min(locked_wei,
l1_locked_wei): never more than both the chain and the Locking contract hold.
A sequencer whose stake is below min_lock_wei is not in the set.

Timing: updates returned by FinalizeBlock at height H take effect at H+2, so
the set computed at H is stored as the set that signs from H+2 on. A record is
written only when the set changes; get_validator_set(h) reads the newest
record at or below h. Records older than the one that covers H-2 are pruned.
"""

from collections.abc import Sequence
from functools import lru_cache

from abci_app.chain import keys
from abci_app.chain.messages import state

# Re-exported: the power rule is defined in params.py, eligibility in state.py.
from abci_app.chain.params import MAX_TOTAL_VOTING_POWER as MAX_TOTAL_VOTING_POWER
from abci_app.chain.params import Params, compute_power
from abci_app.chain.params import compute_max_validator_power as compute_max_validator_power
from abci_app.chain.state import (
    ValidatorIndexItem,
    get_record,
    get_stake,
    get_validator_index,
    put_record,
)
from abci_app.chain.state import is_eligible_validator as is_eligible_validator
from abci_app.chain.types import Event, ValidatorUpdate
from abci_app.store.kv import KVStore
from abci_app.valset import ValidatorEntry, compute_consensus_address

# A pure function of the key: memoising it cannot affect determinism.
_consensus_address = lru_cache(maxsize=65_536)(compute_consensus_address)
VALIDATOR_UPDATE_DELAY = 2


def compute_validator_set(
    sequencers: Sequence[state.Sequencer], params: Params
) -> list[ValidatorEntry]:
    """Pure: the eligible sequencers, sorted by (power desc, id asc), top max_validators."""
    entries = []
    for seq in sequencers:
        if is_eligible_validator(seq, params):
            power = compute_power(get_stake(seq), params)
            pub_key = bytes(seq.consensus_pubkey)
            entries.append(ValidatorEntry(_consensus_address(pub_key), pub_key, power, int(seq.id)))
    entries.sort(key=lambda e: (-e.power, e.sequencer_id))
    return entries[: params.max_validators]


def get_indexed_validator_set(kv: KVStore, params: Params) -> list[ValidatorEntry]:
    """compute_validator_set over the stored sequencers, read from the validator index:
    O(max_validators), never the whole registry."""
    return [compute_indexed_entry(item) for item in get_validator_index(kv, params.max_validators)]


def compute_indexed_entry(item: ValidatorIndexItem) -> ValidatorEntry:
    return ValidatorEntry(_consensus_address(item.pub_key), item.pub_key, item.power,
                          item.sequencer_id)


def compute_validator_diff(
    old: Sequence[ValidatorEntry], new: Sequence[ValidatorEntry]
) -> list[ValidatorUpdate]:
    """Changes only: removals as power 0, new or re-powered validators; sorted by key."""
    old_power = {e.pub_key: e.power for e in old}
    new_power = {e.pub_key: e.power for e in new}
    updates = [ValidatorUpdate(pk, 0) for pk in sorted(old_power) if pk not in new_power]
    updates += [
        ValidatorUpdate(pk, new_power[pk])
        for pk in sorted(new_power)
        if old_power.get(pk) != new_power[pk]
    ]
    updates.sort(key=lambda u: u.pub_key)
    return updates


def _entries_from_record(record: state.ValidatorSetRecord) -> list[ValidatorEntry]:
    return [
        ValidatorEntry(bytes(v.address), bytes(v.pub_key), int(v.power), int(v.sequencer_id))
        for v in record.validators
    ]


def get_validator_set_heights(kv: KVStore) -> list[int]:
    """The heights of the stored set records, ascending; read from the keys alone."""
    start = len(keys.VALSET_PREFIX)
    return [keys.decode_u64(key[start:]) for key, _ in kv.iterate(keys.VALSET_PREFIX)]


def _get_set_at(kv: KVStore, record_height: int) -> list[ValidatorEntry]:
    raw = kv.get(keys.valset_key(record_height))
    return [] if raw is None else list(_compute_entries_from_bytes(bytes(raw)))


# Read two or three times per height (the proposal or relay check, downtime, the diff);
# a pure function of the bytes into frozen entries, so memoising it cannot affect
# determinism.
@lru_cache(maxsize=8)
def _compute_entries_from_bytes(raw: bytes) -> tuple[ValidatorEntry, ...]:
    record = state.ValidatorSetRecord()
    record.ParseFromString(raw)
    return tuple(_entries_from_record(record))


def get_validator_set(kv: KVStore, height: int) -> list[ValidatorEntry]:
    """The set that signs blocks at `height`; [] before the first stored set."""
    covering = [h for h in get_validator_set_heights(kv) if h <= height]
    return _get_set_at(kv, covering[-1]) if covering else []


def get_latest_validator_set(kv: KVStore) -> list[ValidatorEntry]:
    heights = get_validator_set_heights(kv)
    return _get_set_at(kv, heights[-1]) if heights else []


def get_latest_validator_ids(kv: KVStore) -> set[int]:
    """Sequencer ids of the newest stored set (membership tests only)."""
    heights = get_validator_set_heights(kv)
    record = None if not heights else get_record(
        kv, keys.valset_key(heights[-1]), state.ValidatorSetRecord)
    return set() if record is None else {int(v.sequencer_id) for v in record.validators}


def put_validator_set(kv: KVStore, height: int, entries: Sequence[ValidatorEntry]) -> None:
    record = state.ValidatorSetRecord(
        height=height,
        validators=[
            state.Validator(address=e.address, pub_key=e.pub_key, power=e.power,
                            sequencer_id=e.sequencer_id)
            for e in entries
        ],
    )
    put_record(kv, keys.valset_key(height), record)


def prune_validator_sets(kv: KVStore, height: int) -> None:
    """Keep every record that covers a height >= height - 2."""
    heights = get_validator_set_heights(kv)
    floor = height - VALIDATOR_UPDATE_DELAY
    for record_height, successor in zip(heights, heights[1:], strict=False):
        if successor <= floor:
            kv.delete(keys.valset_key(record_height))


def process_validator_updates(
    kv: KVStore, height: int, params: Params, *, index_changed: bool = True
) -> tuple[list[ValidatorUpdate], list[Event]]:
    """Diff the eligible set against the last set sent to CometBFT.

    An empty set is never sent: CometBFT halts on it. Instead the previous set
    stays (jailed members keep signing until someone becomes eligible again).

    `index_changed` False (no write touched the validator index in this block) skips
    the diff: after every block the newest record equals the index's first
    max_validators entries, or the index is empty (the set kept), so the diff is empty.
    """
    if not index_changed:
        return [], _process_unchanged_set(kv, height)
    new = get_indexed_validator_set(kv, params)
    old = get_latest_validator_set(kv)
    events: list[Event] = []
    if not new:
        events.append(Event("validator_set_kept", [("reason", "no eligible sequencer")]))
        prune_validator_sets(kv, height)
        return [], events
    updates = compute_validator_diff(old, new)
    if updates:
        put_validator_set(kv, height + VALIDATOR_UPDATE_DELAY, new)
        events.append(Event("validator_set_changed", [
            ("effective_height", str(height + VALIDATOR_UPDATE_DELAY)),
            ("updates", str(len(updates))),
        ]))
    prune_validator_sets(kv, height)
    return updates, events


def _process_unchanged_set(kv: KVStore, height: int) -> list[Event]:
    """What the diff would give when the index did not move: nothing, or the kept set."""
    prune_validator_sets(kv, height)
    if not get_validator_index(kv, 1):
        return [Event("validator_set_kept", [("reason", "no eligible sequencer")])]
    return []
