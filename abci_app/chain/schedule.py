"""Rotation: which sequencer produces which L2 blocks, and rewards for producing them.

Epoch e covers L2 heights [e * epoch_length + 1, (e + 1) * epoch_length]
(L2 height 0 is the L2 genesis). The state holds the schedules of the current
epoch, the next one and the one after (lookahead 2), plus a bounded history.

Producer selection (compute_producer), O(n log n) in the number of candidates:
  1. candidates = rotation candidates: validator-set members (active, power > 0,
     top max_validators) that are not producer-jailed, sorted (power desc, id asc);
  2. prefix sums of their powers, O(n);
  3. r = int(seed, big-endian) mod total power; the producer is the first
     candidate whose prefix sum exceeds r (binary search, O(log n)).

Seeds (seeds.py). When epoch e starts, the chain fixes epoch e+2's candidates
(a snapshot) and names a future L1 block: seed_l1_height = attested L1
confirmed height + seed_l1_delay_blocks. Once > 2/3 of the power attest that
block's randomness (its mixHash), seed(e+2) = sha256("seqset/epoch-seed/v2" ||
mix_hash || u64be(e+2)) and e+2's producer is drawn over the snapshot. A
snapshot member that is no longer a candidate when its turn comes is replaced
at once by the re-election rule below, so the drawn schedule depends only on
the snapshot and the seed. An epoch starts only once seeded: if e+1 ends
before the randomness is attested, e+2 waits (no producer, no timeout) until
it is, or until the fallback seed(e+2) = sha256("seqset/epoch-seed/fallback/v2"
|| seed(e+1) || u64be(e+2)) applies (event seed_fallback): once the attested
L1 height reaches seed_l1_height + seed_l1_delay_blocks, or seed_timeout_s of
block time after e+1's last header (seeds.py). Epochs 0 and 1 use the
fallback rule from sha256("seqset/genesis/" || chain_id).

Who controls each input, and the bias that remains:
  - the producer of epoch e decides when e ends (it may withhold its last
    block until the timeout): that moves only WHEN e+2's snapshot is taken and
    which L1 block is named, never knowing that block's randomness;
  - a CometBFT proposer chooses which txs to include and may delay the attested
    tx: that delays a seed or changes whose Unjail lands before a snapshot, but
    never changes a seed's value (no seed depends on an app hash);
  - no single validator or sidecar moves a > 2/3 tally;
  - the Ethereum proposer of the named L1 block may withhold its slot (one bit,
    at the cost of its block reward);
  - > 1/3 of the power withholding randomness (or an L1 stall) forces the
    fallback, which is predictable; ending epoch e+1 early only makes e+2 wait,
    it never picks the fallback;
  - a failing producer chooses whether to fail, and so the re-election round;
    it is slashed and producer-jailed for it. The rotation runs before user
    txs and re-elects over the epoch's snapshot, so a proposer's choice of txs
    (an Unjail, say) never changes the winner.

Liveness (L2 registered only): progress is any attested L2 header (l2.py);
rewards go to in-turn headers only, and an out-of-turn header by a known
sequencer is a producer fault of that sequencer. After rotation_timeout_s of
block time without progress, in a block whose attested tx attested something
(so a proposer omitting that tx only delays the fault), or after twice that
in any block (so a stalled attestation path still replaces a dead producer),
the producer gets a PRODUCER fault: a producer_fault_slash_bps slash
(SlashRecord "missed_production") and producer_jailed_until_ns = time +
producer_jail_s, which takes it out of the rotation but not out of the
validator set (only downtime and double signing jail). Round k+1 re-elects
with seed sha256(seed || u32be(k+1)) among the epoch's snapshot members that
are still candidates and have not failed in this epoch (all current candidates
if none is left); the new producer holds the rest of the epoch from
last_l2_height + 1. With no L2 registered there are no timeouts, faults or
rewards. Known limit: with >= 1/3 of the power byzantine, withholding or
falsifying L2 headers blocks the header tally, so honest producers make no
attested progress; faults then wait for another attestation to flow (or for
twice the timeout).

Rewards: reward_per_l2_block_wei for each attested L2 block whose producer was
the scheduled one, credited when its epoch closes.
"""

import hashlib
from bisect import bisect_right
from collections.abc import Collection, Sequence
from itertools import accumulate
from typing import Protocol

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import NS_PER_S, Params, is_l2_registered
from abci_app.chain.slashing import slash_sequencer
from abci_app.chain.state import (
    change_totals,
    format_wei,
    get_chain_state,
    get_known_sequencer,
    get_params,
    get_record,
    get_sequencer,
    get_validator_index,
    is_eligible_validator,
    put_chain_state,
    put_record,
    put_sequencer,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.chain.validators import (
    compute_indexed_entry,
    compute_validator_set,
    get_latest_validator_ids,
)
from abci_app.errors import QueryBadRequestError, QueryNotFoundError
from abci_app.store.kv import KVStore
from abci_app.valset import ValidatorEntry

SCHEDULE_HISTORY_EPOCHS = 1_024
NO_PRODUCER = 0
SEED_LOOKAHEAD_EPOCHS = 2


class Candidate(Protocol):
    @property
    def sequencer_id(self) -> int: ...
    @property
    def power(self) -> int: ...


def compute_genesis_seed_hash(chain_id: str) -> bytes:
    return hashlib.sha256(b"seqset/genesis/" + chain_id.encode()).digest()


def compute_randomness_seed(mix_hash: bytes, epoch: int) -> bytes:
    return hashlib.sha256(b"seqset/epoch-seed/v2" + mix_hash + epoch.to_bytes(8, "big")).digest()


def compute_fallback_seed(previous_seed: bytes, epoch: int) -> bytes:
    return hashlib.sha256(
        b"seqset/epoch-seed/fallback/v2" + previous_seed + epoch.to_bytes(8, "big")).digest()


def compute_reelection_seed(seed: bytes, round_number: int) -> bytes:
    return hashlib.sha256(seed + round_number.to_bytes(4, "big")).digest()


def compute_producer(seed: bytes, candidates: Sequence[Candidate]) -> int:
    """Stake-weighted pick from candidates already sorted by (power desc, id asc)."""
    if not candidates:
        return NO_PRODUCER
    prefix = list(accumulate(int(c.power) for c in candidates))
    r = int.from_bytes(seed, "big") % prefix[-1]
    return int(candidates[bisect_right(prefix, r)].sequencer_id)


def compute_rotation_candidates(
    sequencers: Sequence[state.Sequencer], params: Params, time_ns: int
) -> list[ValidatorEntry]:
    """Validator-set members that are not producer-jailed at `time_ns`."""
    jailed = {s.id for s in sequencers if s.producer_jailed_until_ns > time_ns}  # membership
    return [e for e in compute_validator_set(sequencers, params) if e.sequencer_id not in jailed]


def get_rotation_candidates(kv: KVStore, params: Params, time_ns: int) -> list[ValidatorEntry]:
    """compute_rotation_candidates over the stored sequencers, from the validator index:
    O(max_validators)."""
    return [compute_indexed_entry(item)
            for item in get_validator_index(kv, params.max_validators)
            if item.producer_jailed_until_ns <= time_ns]


def compute_epoch_bounds(epoch: int, epoch_length: int) -> tuple[int, int]:
    return epoch * epoch_length + 1, (epoch + 1) * epoch_length


def compute_epoch_of(l2_height: int, epoch_length: int) -> int:
    return max(l2_height - 1, 0) // epoch_length


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
    """The current epoch's schedule: written two epochs ahead, so absence is a bug."""
    schedule = get_epoch_schedule(kv, epoch)
    if schedule is None:
        raise RuntimeError(f"epoch {epoch} has no schedule in state")
    return schedule


def put_epoch_schedule(kv: KVStore, schedule: state.EpochSchedule) -> None:
    put_record(kv, keys.epoch_key(schedule.epoch), schedule)


def get_sequencer_at(kv: KVStore, l2_height: int) -> tuple[int, int]:
    """(epoch, sequencer id) for L2 block `l2_height`, from the stored, seeded schedules."""
    if l2_height < 1:
        raise QueryBadRequestError("l2_height: must be >= 1 (0 is the L2 genesis)")
    epoch = compute_epoch_of(l2_height, get_params(kv).epoch_length)
    schedule = get_epoch_schedule(kv, epoch)
    if schedule is None or not schedule.seed:
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


def compute_reelection_pool(
    schedule: state.EpochSchedule, candidates: Sequence[ValidatorEntry]
) -> list[Candidate]:
    """The epoch's snapshot members still eligible and not failed this epoch (snapshot
    powers and order); all current candidates only if none is left."""
    eligible = {c.sequencer_id for c in candidates}  # membership only
    failed = set(schedule.failed_ids)  # membership only
    pool: list[Candidate] = [c for c in schedule.candidates
                             if c.sequencer_id in eligible and c.sequencer_id not in failed]
    return pool or list(candidates)


def reelect(
    kv: KVStore, schedule: state.EpochSchedule, candidates: Sequence[ValidatorEntry],
    time_ns: int, reason: str,
) -> Event:
    """Hand the rest of the epoch to a new producer, chosen by a fresh round's seed."""
    pool = compute_reelection_pool(schedule, candidates)
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


def replace_ineligible_producer(
    kv: KVStore, schedule: state.EpochSchedule, block: BlockInput, params: Params
) -> list[Event]:
    """A producer that is no longer a candidate is replaced at once, without a fault."""
    candidates = get_rotation_candidates(kv, params, block.time_ns)
    producer = get_current_producer(schedule)
    if producer in {c.sequencer_id for c in candidates}:
        return []
    if not candidates and producer == NO_PRODUCER:
        return []
    return [reelect(kv, schedule, candidates, block.time_ns, "ineligible")]


def process_producer_fault(
    kv: KVStore, sequencer_id: int, block: BlockInput, params: Params, kind: str = "timeout"
) -> list[Event]:
    """Missed production ("timeout") or an out-of-turn block ("out_of_turn"): a small
    slash and time out of the rotation; never a consensus jail."""
    seq = get_known_sequencer(kv, sequencer_id)
    seq.missed_productions += 1
    until = block.time_ns + params.producer_jail_s * NS_PER_S
    seq.producer_jailed_until_ns = max(int(seq.producer_jailed_until_ns), until)
    record = slash_sequencer(kv, seq, params.producer_fault_slash_bps, "missed_production",
                             block.height, block)
    return [Event("producer_fault", [
        ("sequencer_id", str(sequencer_id)), ("kind", kind),
        ("count", str(seq.missed_productions)),
        ("from_pending_wei", record.from_pending_wei),
        ("from_locked_wei", record.from_locked_wei),
        ("producer_jailed_until_ns", str(seq.producer_jailed_until_ns))])]


def is_attestation_flowing(block: BlockInput) -> bool:
    """This block's attested tx attested something: evidence that > 2/3 of the power
    report, and that the proposer included their reports."""
    return bool(block.l1_events or block.l2_headers or block.seed_randomness is not None
                or block.l1_confirmed_height > 0)


def is_timed_out(block: BlockInput, last_progress_time_ns: int, params: Params) -> bool:
    """rotation_timeout_s without progress, confirmed by attestation flowing in this block;
    or twice that, so a stalled attestation path still replaces a dead producer."""
    timeout_ns = params.rotation_timeout_s * NS_PER_S
    elapsed = block.time_ns - last_progress_time_ns
    if elapsed >= 2 * timeout_ns:
        return True
    return elapsed >= timeout_ns and is_attestation_flowing(block)


def is_surely_candidate(
    seq: state.Sequencer | None, newest_set_ids: Collection[int], time_ns: int, params: Params
) -> bool:
    """Pure: `seq` is a rotation candidate at `time_ns`, provided the validator index has
    not moved since the newest stored validator set (ids `newest_set_ids`) was computed.
    That set equals the index's first max_validators entries after every block (see
    process_validator_updates) and consensus keys are unique, so an eligible sequencer in
    it is in the index's top. False means "not known": read the candidates."""
    return (seq is not None and is_eligible_validator(seq, params)
            and seq.producer_jailed_until_ns <= time_ns and int(seq.id) in newest_set_ids)


def process_rotation(
    kv: KVStore, block: BlockInput, params: Params, *, index_changed: bool = True
) -> list[Event]:
    """Replace an ineligible producer at once, a silent one after the timeout (is_timed_out).
    Nothing while the current epoch is done and the next waits for its seed.

    The candidates are read only when the producer may have stopped being one (the
    producer changed status, or the validator index moved in this block; epoch starts
    check in seeds.start_epoch): see is_surely_candidate."""
    if not is_l2_registered(params):
        return []
    chain = get_chain_state(kv)
    schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    if chain.last_l2_height >= schedule.last_l2_height:
        return []  # nobody is scheduled: no height of this epoch is left
    producer = get_current_producer(schedule)
    if index_changed or not is_surely_candidate(
            get_sequencer(kv, producer), get_latest_validator_ids(kv), block.time_ns, params):
        events = replace_ineligible_producer(kv, schedule, block, params)
        if events:
            return events
    if producer == NO_PRODUCER:
        return []
    if not is_timed_out(block, int(chain.last_progress_time_ns), params):
        return []
    events = process_producer_fault(kv, producer, block, params)
    schedule.failed_ids[:] = sorted(set(schedule.failed_ids) | {producer})
    candidates = get_rotation_candidates(kv, params, block.time_ns)
    events.append(reelect(kv, schedule, candidates, block.time_ns, "timeout"))
    return events


def process_rewards(kv: KVStore, schedule: state.EpochSchedule, params: Params) -> list[Event]:
    """Credit the producers of `schedule`, an epoch that just closed, once."""
    if schedule.rewarded:
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
