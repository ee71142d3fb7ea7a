"""Epoch seeds from attested L1 randomness, lookahead 2 (the rules: schedule.py's docstring).

Epoch e's schedule record is written when epoch e-2 starts, holding only the
candidates snapshot and seed_l1_height; the seed and the producer span come
when the randomness of that L1 block is attested (process_seed_randomness), or
from the fallback rule when epoch e starts without it (start_epoch).
"""

from collections.abc import Sequence

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params, is_l2_registered
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
        SEED_LOOKAHEAD_EPOCHS, candidates, l1_confirmed_height + params.seed_l1_delay_blocks,
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


def process_l1_confirmed_height(kv: KVStore, attested: int) -> None:
    """Keep the largest attested L1 confirmed height ever; 0 means none in this block."""
    chain = get_chain_state(kv)
    if attested > chain.l1_confirmed_height:
        chain.l1_confirmed_height = attested
        put_chain_state(kv, chain)


def process_seed_randomness(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """Seed every waiting epoch that named this L1 block."""
    randomness = block.seed_randomness
    if randomness is None:
        return []
    seeded: list[Event] = []
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
    if seeded:
        return seeded
    return [Event("seed_randomness_ignored", [
        ("l1_height", str(randomness.l1_height)), ("reason", "no epoch waits for it")])]


def start_epoch(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    """The current epoch's last L2 block is attested: close it, start the next one
    (fallback seed if its randomness never came), and snapshot the one after next."""
    chain = get_chain_state(kv)
    closed = get_known_epoch_schedule(kv, chain.current_epoch)
    chain.current_epoch += 1
    chain.last_progress_time_ns = block.time_ns
    put_chain_state(kv, chain)
    epoch = int(chain.current_epoch)
    events = [Event("epoch_started", [("epoch", str(epoch))])]
    events += process_rewards(kv, closed, params)
    schedule = get_known_epoch_schedule(kv, epoch)
    if not schedule.seed:
        seed_schedule(schedule, compute_fallback_seed(bytes(closed.seed), epoch))
        put_epoch_schedule(kv, schedule)
        events.append(Event("seed_fallback", [
            ("epoch", str(epoch)), ("l1_height", str(schedule.seed_l1_height))]))
    events += replace_ineligible_producer(kv, schedule, block, params)
    candidates = get_rotation_candidates(kv, params, block.time_ns)
    put_epoch_schedule(kv, compute_snapshot(
        epoch + SEED_LOOKAHEAD_EPOCHS, candidates,
        int(chain.l1_confirmed_height) + params.seed_l1_delay_blocks, params))
    if epoch > SCHEDULE_HISTORY_EPOCHS:
        kv.delete(keys.epoch_key(epoch - SCHEDULE_HISTORY_EPOCHS - 1))
    return events
