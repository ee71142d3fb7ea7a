"""The attested L2 head: headers that holders of > 2/3 of the power reported identically.

The relay (abci_app/relay) tallies the sidecars' reports and hands the chain
attested headers, randomness and an L1 confirmed height in BlockInput. The
chain still checks that each header links to the stored head (height + 1,
parent hash), and skips (with an event) the first header that does not and
everything after it; it never raises on attested input. Headers past the
current epoch while the next epoch waits for its seed (seeds.py) are held
back the same way: the relay reports them again once that epoch has started.

Each header, in order (process_l2_header), is L2 liveness: it sets
last_progress_time_ns, whoever produced it, so a producer that mines out of
turn can never make the scheduled one time out. If its producer (coinbase) is
the signer of the scheduled producer of its height, that sequencer is credited
one block (paid when the epoch closes). Otherwise the block is OUT OF TURN: no
reward, an l2_out_of_turn event, one more out_of_turn_blocks on the sequencer
that signed it, if any, and a PRODUCER FAULT for that sequencer (the slash and
producer jail of a timeout; SlashRecord reason "missed_production", event
producer_fault with kind "out_of_turn"), at most one per sequencer per
CometBFT block. An unknown producer gets the event only. The head advances
either way: the L2 is what it is. The epoch's last header starts the next
epoch if it is seeded (seeds.process_epoch_end).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from abci_app import pb
from abci_app.chain.params import L2_HASH_BYTES, Params, is_l2_registered
from abci_app.chain.schedule import (
    NO_PRODUCER,
    add_produced,
    compute_producer_at,
    get_known_epoch_schedule,
    process_producer_fault,
    put_epoch_schedule,
)
from abci_app.chain.seeds import process_epoch_end
from abci_app.chain.state import (
    get_chain_state,
    get_known_sequencer,
    get_params,
    get_sequencer_id_by_signer,
    put_chain_state,
    put_sequencer,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.store.kv import KVStore

L2_ADDRESS_BYTES = 20


@dataclass(frozen=True, slots=True)
class L2Batch:
    """What the headers of one block share."""

    faulted: set[int]  # sequencers already faulted in this block (membership only)
    # When the votes carrying these headers were cast (the previous block's time):
    # progress is credited from then, not from when a proposer included them.
    observed_time_ns: int


def get_l2_head(kv: KVStore) -> tuple[int, bytes] | None:
    """(height, hash) of the attested L2 head: (0, l2_genesis_hash) before any header,
    None when no L2 is registered."""
    params = get_params(kv)
    if not is_l2_registered(params):
        return None
    chain = get_chain_state(kv)
    if chain.last_l2_height == 0:
        return 0, params.l2_genesis_hash
    return int(chain.last_l2_height), bytes(chain.last_l2_block_hash)


def get_attested_l1_height(kv: KVStore) -> int:
    """The largest L1 confirmed height ever attested (never decreases)."""
    return int(get_chain_state(kv).l1_confirmed_height)


def compute_header_reject_reason(
    header: pb.l2.L2Header, head_height: int, head_hash: bytes
) -> str:
    if header.height != head_height + 1:
        return f"height {header.height} does not follow the head {head_height}"
    if len(header.hash) != L2_HASH_BYTES or len(header.producer) != L2_ADDRESS_BYTES:
        return "malformed hash or producer"
    if bytes(header.parent_hash) != head_hash:
        return f"parent hash does not link to the head at {head_height}"
    return ""


def process_l2_header(
    kv: KVStore, header: pb.l2.L2Header, block: BlockInput, params: Params,
    batch: L2Batch,
) -> list[Event]:
    """One linked header in the current epoch: credit or out-of-turn fault, then the head moves."""
    events: list[Event] = []
    chain = get_chain_state(kv)
    schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    scheduled = compute_producer_at(schedule, header.height)
    producer = bytes(header.producer)
    if scheduled != NO_PRODUCER and bytes(get_known_sequencer(kv, scheduled).signer) == producer:
        add_produced(schedule, scheduled, 1)
        put_epoch_schedule(kv, schedule)
    else:
        events.append(Event("l2_out_of_turn", [
            ("l2_height", str(header.height)), ("producer", "0x" + producer.hex()),
            ("scheduled_sequencer_id", str(scheduled))]))
        # A producer replaced this epoch was faulted already; its late block only earns nothing.
        offender = get_sequencer_id_by_signer(kv, producer)
        if offender is not None and offender in schedule.failed_ids:
            batch.faulted.add(offender)
        events += process_out_of_turn(kv, offender, block, params, batch.faulted)
    chain = get_chain_state(kv)
    chain.last_l2_height = header.height
    chain.last_l2_block_hash = bytes(header.hash)
    chain.last_progress_time_ns = max(int(chain.last_progress_time_ns), batch.observed_time_ns)
    put_chain_state(kv, chain)
    if header.height == schedule.last_l2_height:
        events += process_epoch_end(kv, block, params)
    return events


def process_out_of_turn(
    kv: KVStore, sequencer_id: int | None, block: BlockInput, params: Params,
    faulted: set[int],
) -> list[Event]:
    """Count the block against the sequencer that signed it, and fault it once per block."""
    if sequencer_id is None:
        return []
    seq = get_known_sequencer(kv, sequencer_id)
    seq.out_of_turn_blocks += 1
    put_sequencer(kv, seq)
    if sequencer_id in faulted:
        return []
    faulted.add(sequencer_id)
    return process_producer_fault(kv, sequencer_id, block, params, "out_of_turn")


def compute_unscheduled_reason(kv: KVStore, l2_height: int) -> str:
    """Why `l2_height` cannot be applied yet: past the current epoch, whose successor
    waits for its seed; "" when it can."""
    chain = get_chain_state(kv)
    if l2_height <= get_known_epoch_schedule(kv, chain.current_epoch).last_l2_height:
        return ""
    return f"epoch {chain.current_epoch + 1} is not seeded yet"


def process_l2_headers(
    kv: KVStore, headers: Sequence[pb.l2.L2Header], block: BlockInput, params: Params,
    observed_time_ns: int,
) -> list[Event]:
    """Apply attested headers in order; the first that does not link (or lies in an
    epoch not started yet) ends the batch."""
    if not headers:
        return []
    if not is_l2_registered(params):
        return [Event("l2_headers_skipped", [
            ("count", str(len(headers))), ("reason", "no L2 registered")])]
    events: list[Event] = []
    batch = L2Batch(set(), observed_time_ns)
    head_height, head_hash = get_l2_head(kv) or (0, b"")
    for index, header in enumerate(headers):
        reason = (compute_header_reject_reason(header, head_height, head_hash)
                  or compute_unscheduled_reason(kv, int(header.height)))
        if reason:
            events.append(Event("l2_headers_skipped", [
                ("from_l2_height", str(header.height)), ("count", str(len(headers) - index)),
                ("reason", reason)]))
            break
        events += process_l2_header(kv, header, block, params, batch)
        head_height, head_hash = int(header.height), bytes(header.hash)
    events.append(Event("l2_head", [("l2_height", str(head_height)),
                                    ("l2_block_hash", head_hash.hex())]))
    return events
