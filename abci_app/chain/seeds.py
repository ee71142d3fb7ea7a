"""Epoch seeds from attested L1 randomness, lookahead 2 (the rules: schedule.py's docstring).

Epoch e's schedule record is written when epoch e-2 starts, holding only the
candidates snapshot and seed_l1_height; the seed and the producer span come
when the randomness of that L1 block is attested (process_seed_randomness).

An epoch starts only once it is seeded. When the last header of epoch e-1 is
attested and e has no seed yet, e waits: its heights have no producer ("not
scheduled yet"), the chain holds back headers past e-1 (l2.py), and no
timeout can fault anyone. The wait ends when the randomness is attested, or
with the fallback seed (process_seed_fallback) once either
  (a) the attested L1 confirmed height reaches seed_l1_height +
      seed_l1_delay_blocks: the block is long confirmed, yet > 2/3 of the power
      did not attest its randomness; or
  (b) seed_timeout_s of block time passed since the last header of e-1 was
      attested (last_progress_time_ns, which nothing moves while e waits).
Neither depends on when the producer of e-1 finished its epoch, nor on one
proposer: finishing early only makes e wait, it never picks the fallback.

L1 heights: an attested l1_confirmed_height is kept only if it is at most
MAX_L1_HEIGHT_STEP above the stored one (the first one, from 0, only below
MAX_L1_HEIGHT), so a bad tally cannot push seed heights out of reach forever;
seed_l1_height never exceeds MAX_L1_HEIGHT + seed_l1_delay_blocks < 2^63.
"""

from collections.abc import Sequence

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import NS_PER_S, Params, is_l2_registered
from abci_app.chain.schedule import (
    SCHEDULE_HISTORY_EPOCHS,
    SEED_LOOKAHEAD_EPOCHS,
    Candidate,
    compute_epoch_bounds,
    compute_fallback_seed,
    compute_genesis_seed_hash,
    compute_producer,
    compute_randomness_seed,
    get_epoch_schedule,
    get_known_epoch_schedule,
    get_rotation_candidates,
    process_rewards,
    put_epoch_schedule,
    replace_ineligible_producer,
)
from abci_app.chain.state import get_chain_state, get_params, put_chain_state
from abci_app.chain.types import BlockInput, Event
from abci_app.store.kv import KVStore

MIX_HASH_BYTES = 32
MAX_L1_HEIGHT_STEP = 100_000  # L1 blocks one attested height may move the stored one
MAX_L1_HEIGHT = 2**62  # far past any real L1; keeps seed_l1_height inside uint64/int64


def compute_seed_l1_height(l1_confirmed_height: int, params: Params) -> int:
    """The L1 block a new snapshot names; bounded, so it always fits the uint64 field."""
    return min(l1_confirmed_height, MAX_L1_HEIGHT) + params.seed_l1_delay_blocks


def compute_snapshot(
    epoch: int, candidates: Sequence[Candidate], seed_l1_height: int, params: Params
) -> state.EpochSchedule:
    """An unseeded schedule: the candidates are fixed, the producer is not drawn yet."""
    first, last = compute_epoch_bounds(epoch, params.epoch_length)
    return state.EpochSchedule(
        epoch=epoch, first_l2_height=first, last_l2_height=last, seed_l1_height=seed_l1_height,
        candidates=[state.ScheduleCandidate(sequencer_id=c.sequencer_id, power=c.power)
                    for c in candidates])


def seed_schedule(schedule: state.EpochSchedule, seed: bytes) -> None:
    """Draw the producer over the snapshot."""
    schedule.seed = seed
    producer = compute_producer(seed, list(schedule.candidates))
    del schedule.spans[:]
    schedule.spans.add(from_l2_height=schedule.first_l2_height, sequencer_id=producer)


def init_schedule(kv: KVStore, chain_id: str, params: Params, l1_confirmed_height: int) -> None:
    """Genesis: epochs 0 and 1 seeded by the fallback rule from the chain id; epoch 2's
    snapshot waits for the randomness of L1 block l1_confirmed_height + seed_l1_delay_blocks."""
    chain = get_chain_state(kv)
    candidates = get_rotation_candidates(kv, params, chain.last_block_time_ns)
    seed = compute_genesis_seed_hash(chain_id)
    for epoch in range(SEED_LOOKAHEAD_EPOCHS):
        seed = compute_fallback_seed(seed, epoch)
        schedule = compute_snapshot(epoch, candidates, 0, params)
        seed_schedule(schedule, seed)
        put_epoch_schedule(kv, schedule)
    put_epoch_schedule(kv, compute_snapshot(
        SEED_LOOKAHEAD_EPOCHS, candidates, compute_seed_l1_height(l1_confirmed_height, params),
        params))
    chain.l1_confirmed_height = l1_confirmed_height
    put_chain_state(kv, chain)


def get_seed_request(kv: KVStore) -> int:
    """seed_l1_height of the oldest epoch still waiting for its seed; 0 = none."""
    if not is_l2_registered(get_params(kv)):
        return 0
    current = int(get_chain_state(kv).current_epoch)
    for epoch in range(current + 1, current + SEED_LOOKAHEAD_EPOCHS + 1):
        schedule = get_epoch_schedule(kv, epoch)
        if schedule is not None and not schedule.seed:
            return int(schedule.seed_l1_height)
    return 0


def process_l1_confirmed_height(kv: KVStore, attested: int) -> list[Event]:
    """Keep the largest attested L1 confirmed height ever; 0 means none in this block.
    A jump past MAX_L1_HEIGHT_STEP (or, from 0, past MAX_L1_HEIGHT) is ignored."""
    chain = get_chain_state(kv)
    stored = int(chain.l1_confirmed_height)
    if attested <= stored:
        return []
    limit = MAX_L1_HEIGHT if stored == 0 else min(stored + MAX_L1_HEIGHT_STEP, MAX_L1_HEIGHT)
    if attested > limit:
        return [Event("l1_confirmed_height_ignored", [
            ("l1_height", str(attested)), ("stored", str(stored)), ("limit", str(limit))])]
    chain.l1_confirmed_height = attested
    put_chain_state(kv, chain)
    return []


def get_waiting_schedule(kv: KVStore) -> state.EpochSchedule | None:
    """The next epoch's schedule when the current epoch is done and the next one is
    still unseeded (it waits: nobody is scheduled); None otherwise."""
    chain = get_chain_state(kv)
    current = get_epoch_schedule(kv, chain.current_epoch)
    if current is None or chain.last_l2_height < current.last_l2_height:
        return None
    waiting = get_epoch_schedule(kv, chain.current_epoch + 1)
    return waiting if waiting is not None and not waiting.seed else None


def process_seed_randomness(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Seed every waiting epoch that named this L1 block; start the next epoch if it waited."""
    randomness = block.seed_randomness
    if randomness is None:
        return []
    seeded: list[Event] = []
    waited = get_waiting_schedule(kv) is not None
    current = int(get_chain_state(kv).current_epoch)
    valid = is_l2_registered(params) and len(randomness.mix_hash) == MIX_HASH_BYTES
    for epoch in range(current + 1, current + SEED_LOOKAHEAD_EPOCHS + 1):
        schedule = get_epoch_schedule(kv, epoch)
        if (not valid or schedule is None or schedule.seed
                or schedule.seed_l1_height != randomness.l1_height):
            continue
        seed_schedule(schedule, compute_randomness_seed(bytes(randomness.mix_hash), epoch))
        put_epoch_schedule(kv, schedule)
        seeded.append(Event("epoch_seeded", [
            ("epoch", str(epoch)), ("l1_height", str(randomness.l1_height)),
            ("sequencer_id", str(schedule.spans[0].sequencer_id))]))
    if not seeded:
        return [Event("seed_randomness_ignored", [
            ("l1_height", str(randomness.l1_height)), ("reason", "no epoch waits for it")])]
    if waited and get_waiting_schedule(kv) is None:
        seeded += start_epoch(kv, block, params)
    return seeded


def process_seed_fallback(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """A waiting epoch gets the fallback seed once its L1 block is long confirmed
    without attested randomness, or after seed_timeout_s of block time."""
    if not is_l2_registered(params):
        return []
    schedule = get_waiting_schedule(kv)
    if schedule is None:
        return []
    chain = get_chain_state(kv)
    if chain.l1_confirmed_height >= schedule.seed_l1_height + params.seed_l1_delay_blocks:
        reason = "l1_block_confirmed_without_randomness"
    elif block.time_ns - chain.last_progress_time_ns >= params.seed_timeout_s * NS_PER_S:
        reason = "seed_timeout"
    else:
        return []
    previous = get_known_epoch_schedule(kv, chain.current_epoch)
    seed_schedule(schedule, compute_fallback_seed(bytes(previous.seed), int(schedule.epoch)))
    schedule.seed_fallback = True
    put_epoch_schedule(kv, schedule)
    events = [Event("seed_fallback", [
        ("epoch", str(schedule.epoch)), ("l1_height", str(schedule.seed_l1_height)),
        ("reason", reason)])]
    return events + start_epoch(kv, block, params)


def process_epoch_end(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """The current epoch's last L2 block is attested: start the next one if it is seeded."""
    if get_waiting_schedule(kv) is None:
        return start_epoch(kv, block, params)
    epoch = int(get_chain_state(kv).current_epoch) + 1
    return [Event("epoch_waiting_for_seed", [("epoch", str(epoch))])]


def start_epoch(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Close the current epoch and start the next, already seeded one; snapshot the one
    after next."""
    chain = get_chain_state(kv)
    closed = get_known_epoch_schedule(kv, chain.current_epoch)
    chain.current_epoch += 1
    chain.last_progress_time_ns = block.time_ns
    put_chain_state(kv, chain)
    epoch = int(chain.current_epoch)
    events = [Event("epoch_started", [("epoch", str(epoch))])]
    events += process_rewards(kv, closed, params)
    schedule = get_known_epoch_schedule(kv, epoch)
    events += replace_ineligible_producer(kv, schedule, block, params)
    candidates = get_rotation_candidates(kv, params, block.time_ns)
    put_epoch_schedule(kv, compute_snapshot(
        epoch + SEED_LOOKAHEAD_EPOCHS, candidates,
        compute_seed_l1_height(int(chain.l1_confirmed_height), params), params))
    if epoch > SCHEDULE_HISTORY_EPOCHS:
        kv.delete(keys.epoch_key(epoch - SCHEDULE_HISTORY_EPOCHS - 1))
    return events
