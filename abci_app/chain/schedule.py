"""Rotation: which sequencer produces which L2 blocks, and rewards for producing them.

Epoch e covers L2 heights [e * epoch_length + 1, (e + 1) * epoch_length]
(L2 height 0 is the L2 genesis). The state holds the schedule of the current
epoch and the next one (lookahead), plus a bounded history for queries.

Producer selection (compute_producer), O(n log n) in the number of sequencers:
  1. candidates = the validator set: active, unjailed, power > 0, top
     max_validators, sorted by (power desc, id asc) -- the sort is the n log n;
  2. prefix sums of their powers, O(n);
  3. r = int(seed, big-endian) mod total power; the producer is the first
     candidate whose prefix sum exceeds r (binary search, O(log n)).
Seed of epoch e: sha256("seqset/epoch-seed/v1" || app_hash || u64be(e)), where
app_hash is the last committed app hash of the block in which epoch e-1 began
(the block that computes e as its lookahead). At genesis it is
sha256("seqset/genesis/" || chain_id).

Liveness: the producer reports L2Progress txs. If rotation_timeout_s of block
time passes without progress, the producer gets a missed-production fault and
round k+1 re-elects with seed sha256(seed || u32be(k+1)) among the candidates
that have not failed in this epoch (all candidates if every one has failed).
The new producer holds the rest of the epoch. A producer that is no longer a
candidate (jailed, exited, lost power) is replaced at once, without a fault.

Rewards: reward_per_l2_block_wei (a fixed amount per L2 block, not an annual
rate) for each L2 block reported, credited to its producer when the epoch closes.
"""

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import NS_PER_S, Params
from abci_app.chain.slashing import jail_sequencer
from abci_app.chain.state import (
    change_totals,
    format_wei,
    get_chain_state,
    get_known_sequencer,
    get_params,
    get_record,
    get_sequencers,
    put_chain_state,
    put_record,
    put_sequencer,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.chain.validators import compute_validator_set
from abci_app.errors import QueryBadRequestError, QueryNotFoundError
from abci_app.store.kv import KVStore
from abci_app.valset import ValidatorEntry

SCHEDULE_HISTORY_EPOCHS = 1_024
NO_PRODUCER = 0


def compute_genesis_seed_hash(chain_id: str) -> bytes:
    return hashlib.sha256(b"seqset/genesis/" + chain_id.encode()).digest()


def compute_epoch_seed(app_hash: bytes, epoch: int) -> bytes:
    return hashlib.sha256(b"seqset/epoch-seed/v1" + app_hash + epoch.to_bytes(8, "big")).digest()


def compute_reelection_seed(seed: bytes, round_number: int) -> bytes:
    return hashlib.sha256(seed + round_number.to_bytes(4, "big")).digest()


def compute_producer(seed: bytes, candidates: Sequence[ValidatorEntry]) -> int:
    """Stake-weighted pick from candidates already sorted by (power desc, id asc)."""
    if not candidates:
        return NO_PRODUCER
    prefix = list(accumulate(c.power for c in candidates))
    r = int.from_bytes(seed, "big") % prefix[-1]
    return candidates[bisect_right(prefix, r)].sequencer_id


def compute_epoch_bounds(epoch: int, epoch_length: int) -> tuple[int, int]:
    return epoch * epoch_length + 1, (epoch + 1) * epoch_length


def compute_epoch_of(l2_height: int, epoch_length: int) -> int:
    return max(l2_height - 1, 0) // epoch_length


def compute_epoch_schedule(
    epoch: int, seed: bytes, candidates: Sequence[ValidatorEntry], params: Params
) -> state.EpochSchedule:
    first, last = compute_epoch_bounds(epoch, params.epoch_length)
    producer = compute_producer(seed, candidates)
    return state.EpochSchedule(
        epoch=epoch, seed=seed, first_l2_height=first, last_l2_height=last,
        spans=[state.ProducerSpan(from_l2_height=first, sequencer_id=producer)],
    )


def compute_producer_at(schedule: state.EpochSchedule, l2_height: int) -> int:
    producer = NO_PRODUCER
    for span in schedule.spans:
        if span.from_l2_height > l2_height:
            break
        producer = int(span.sequencer_id)
    return producer


def get_current_producer(schedule: state.EpochSchedule) -> int:
    return int(schedule.spans[-1].sequencer_id) if schedule.spans else NO_PRODUCER


def get_epoch_schedule(kv: KVStore, epoch: int) -> state.EpochSchedule | None:
    return get_record(kv, keys.epoch_key(epoch), state.EpochSchedule)


def get_known_epoch_schedule(kv: KVStore, epoch: int) -> state.EpochSchedule:
    """The current epoch's schedule: written a whole epoch ahead, so absence is a bug."""
    schedule = get_epoch_schedule(kv, epoch)
    if schedule is None:
        raise RuntimeError(f"epoch {epoch} has no schedule in state")
    return schedule


def put_epoch_schedule(kv: KVStore, schedule: state.EpochSchedule) -> None:
    put_record(kv, keys.epoch_key(schedule.epoch), schedule)


def get_sequencer_at(kv: KVStore, l2_height: int) -> tuple[int, int]:
    """(epoch, sequencer id) for L2 block `l2_height`, from the stored schedules."""
    if l2_height < 1:
        raise QueryBadRequestError("l2_height: must be >= 1 (0 is the L2 genesis)")
    epoch = compute_epoch_of(l2_height, get_params(kv).epoch_length)
    schedule = get_epoch_schedule(kv, epoch)
    if schedule is None:
        current = int(get_chain_state(kv).current_epoch)
        when = "not scheduled yet" if epoch > current else "pruned from history"
        raise QueryNotFoundError(f"l2_height {l2_height}: epoch {epoch} is {when}")
    return epoch, compute_producer_at(schedule, l2_height)


def add_produced(schedule: state.EpochSchedule, sequencer_id: int, l2_blocks: int) -> None:
    for entry in schedule.produced:
        if entry.sequencer_id == sequencer_id:
            entry.l2_blocks += l2_blocks
            return
    schedule.produced.add(sequencer_id=sequencer_id, l2_blocks=l2_blocks)
    ordered = sorted(schedule.produced, key=lambda e: e.sequencer_id)
    copies = [state.ProducedCount(sequencer_id=e.sequencer_id, l2_blocks=e.l2_blocks)
              for e in ordered]
    del schedule.produced[:]
    schedule.produced.extend(copies)


def init_schedule(kv: KVStore, chain_id: str, params: Params) -> None:
    """Genesis: epochs 0 and 1 seeded from the chain id."""
    candidates = compute_validator_set(get_sequencers(kv), params)
    seed_hash = compute_genesis_seed_hash(chain_id)
    for epoch in (0, 1):
        put_epoch_schedule(kv, compute_epoch_schedule(
            epoch, compute_epoch_seed(seed_hash, epoch), candidates, params))


def advance_epoch(kv: KVStore, block: BlockInput, params: Params) -> Event:
    """The current epoch's L2 blocks are all reported: start the next, compute the lookahead."""
    chain = get_chain_state(kv)
    chain.current_epoch += 1
    chain.last_progress_time_ns = block.time_ns
    put_chain_state(kv, chain)
    lookahead = chain.current_epoch + 1
    candidates = compute_validator_set(get_sequencers(kv), params)
    seed = compute_epoch_seed(block.last_app_hash, lookahead)
    put_epoch_schedule(kv, compute_epoch_schedule(lookahead, seed, candidates, params))
    if chain.current_epoch > SCHEDULE_HISTORY_EPOCHS:
        kv.delete(keys.epoch_key(chain.current_epoch - SCHEDULE_HISTORY_EPOCHS - 1))
    return Event("epoch_started", [("epoch", str(chain.current_epoch))])


def reelect(
    kv: KVStore, schedule: state.EpochSchedule, candidates: Sequence[ValidatorEntry],
    time_ns: int, reason: str,
) -> Event:
    """Hand the rest of the epoch to a new producer, chosen by a fresh round's seed."""
    failed = set(schedule.failed_ids)  # membership only
    pool = [c for c in candidates if c.sequencer_id not in failed] or list(candidates)
    schedule.reelections += 1
    producer = compute_producer(compute_reelection_seed(schedule.seed, schedule.reelections), pool)
    chain = get_chain_state(kv)
    start = max(int(chain.last_l2_height) + 1, int(schedule.first_l2_height))
    if schedule.spans and schedule.spans[-1].from_l2_height == start:
        schedule.spans[-1].sequencer_id = producer
    else:
        schedule.spans.add(from_l2_height=start, sequencer_id=producer)
    put_epoch_schedule(kv, schedule)
    chain.last_progress_time_ns = time_ns
    put_chain_state(kv, chain)
    return Event("producer_reelected", [
        ("epoch", str(schedule.epoch)), ("from_l2_height", str(start)),
        ("sequencer_id", str(producer)), ("reason", reason),
    ])


def record_missed_production(
    kv: KVStore, sequencer_id: int, block: BlockInput, params: Params
) -> list[Event]:
    """A fault for the producer; max_missed_productions consecutive faults jail it."""
    seq = get_known_sequencer(kv, sequencer_id)
    seq.missed_productions += 1
    events = [Event("missed_production", [
        ("sequencer_id", str(sequencer_id)), ("count", str(seq.missed_productions))])]
    if seq.missed_productions >= params.max_missed_productions:
        until = block.time_ns + params.missed_production_jail_s * NS_PER_S
        if jail_sequencer(seq, until):
            events.append(Event("jailed", [("sequencer_id", str(sequencer_id)),
                                           ("reason", "missed_production")]))
    put_sequencer(kv, seq)
    return events


def process_rotation(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Advance the epoch when its L2 blocks are done; replace an ineligible or silent producer."""
    events: list[Event] = []
    chain = get_chain_state(kv)
    schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    if chain.last_l2_height >= schedule.last_l2_height:
        events.append(advance_epoch(kv, block, params))
        chain = get_chain_state(kv)
        schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    candidates = compute_validator_set(get_sequencers(kv), params)
    producer = get_current_producer(schedule)
    if producer not in {c.sequencer_id for c in candidates}:
        if candidates or producer != NO_PRODUCER:
            events.append(reelect(kv, schedule, candidates, block.time_ns, "ineligible"))
        return events
    if block.time_ns - chain.last_progress_time_ns < params.rotation_timeout_s * NS_PER_S:
        return events
    events += record_missed_production(kv, producer, block, params)
    schedule.failed_ids[:] = sorted(set(schedule.failed_ids) | {producer})
    candidates = compute_validator_set(get_sequencers(kv), params)
    events.append(reelect(kv, schedule, candidates, block.time_ns, "timeout"))
    return events


def process_rewards(kv: KVStore, params: Params) -> list[Event]:
    """Credit the producers of the epoch that just closed, once."""
    chain = get_chain_state(kv)
    if chain.current_epoch == 0:
        return []
    schedule = get_epoch_schedule(kv, chain.current_epoch - 1)
    if schedule is None or schedule.rewarded:
        return []
    events = []
    for entry in schedule.produced:  # ascending sequencer id
        amount = entry.l2_blocks * params.reward_per_l2_block_wei
        seq = get_known_sequencer(kv, entry.sequencer_id)
        seq.rewards_accrued_wei = format_wei(int(seq.rewards_accrued_wei or "0") + amount)
        put_sequencer(kv, seq)
        change_totals(kv, total_rewards_accrued_wei=amount)
        events.append(Event("rewards_accrued", [
            ("epoch", str(schedule.epoch)), ("sequencer_id", str(entry.sequencer_id)),
            ("amount_wei", str(amount))]))
    schedule.rewarded = True
    put_epoch_schedule(kv, schedule)
    return events
