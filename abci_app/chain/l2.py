"""The attested L2 head: headers that holders of > 2/3 of the power reported identically.

The relay (abci_app/relay) tallies the sidecars' reports and hands the chain
attested headers, randomness and an L1 confirmed height in BlockInput. The
chain still checks that each header links to the stored head (height + 1,
parent hash), and skips (with an event) the first header that does not and
everything after it; it never raises on attested input.

Each header, in order (process_l2_header): if it lies past the current epoch,
the next epoch starts first (seeds.start_epoch; a safety net, since the next
epoch starts as soon as the current one's last block is applied, so that the
current epoch always holds last_l2_height + 1, the height whose producer the
rotation timeout watches). If its producer (coinbase) is
the signer of the scheduled producer of its height, that sequencer is credited
one block (paid when the epoch closes) and progress is recorded; otherwise the
block is OUT OF TURN: no reward, no progress, an l2_out_of_turn event and one
more out_of_turn_blocks on the sequencer that signed it, if any. The head
advances either way: the L2 is what it is; the schedule only decides who is paid.
"""

from collections.abc import Mapping, Sequence

from abci_app import pb
from abci_app.chain.params import L2_HASH_BYTES, Params, is_l2_registered
from abci_app.chain.schedule import (
    NO_PRODUCER,
    add_produced,
    compute_producer_at,
    get_known_epoch_schedule,
    put_epoch_schedule,
)
from abci_app.chain.seeds import start_epoch
from abci_app.chain.state import (
    get_chain_state,
    get_known_sequencer,
    get_params,
    get_sequencers,
    put_chain_state,
    put_sequencer,
)
from abci_app.chain.types import BlockInput, Event
from abci_app.store.kv import KVStore

L2_ADDRESS_BYTES = 20


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
    sequencer_by_signer: Mapping[bytes, int],
) -> list[Event]:
    """One linked header: epoch advance, credit or out-of-turn record, then the head moves."""
    events: list[Event] = []
    chain = get_chain_state(kv)
    schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    if header.height > schedule.last_l2_height:
        events += start_epoch(kv, block, params)
        chain = get_chain_state(kv)
        schedule = get_known_epoch_schedule(kv, chain.current_epoch)
    scheduled = compute_producer_at(schedule, header.height)
    producer = bytes(header.producer)
    if scheduled != NO_PRODUCER and bytes(get_known_sequencer(kv, scheduled).signer) == producer:
        add_produced(schedule, scheduled, 1)
        put_epoch_schedule(kv, schedule)
        chain.last_progress_time_ns = block.time_ns
    else:
        events.append(Event("l2_out_of_turn", [
            ("l2_height", str(header.height)), ("producer", "0x" + producer.hex()),
            ("scheduled_sequencer_id", str(scheduled))]))
        signer_of = sequencer_by_signer.get(producer)
        if signer_of is not None:
            seq = get_known_sequencer(kv, signer_of)
            seq.out_of_turn_blocks += 1
            put_sequencer(kv, seq)
    chain.last_l2_height = header.height
    chain.last_l2_block_hash = bytes(header.hash)
    put_chain_state(kv, chain)
    if header.height == schedule.last_l2_height:
        events += start_epoch(kv, block, params)
    return events


def process_l2_headers(
    kv: KVStore, headers: Sequence[pb.l2.L2Header], block: BlockInput, params: Params
) -> list[Event]:
    """Apply attested headers in order; the first that does not link ends the batch."""
    if not headers:
        return []
    if not is_l2_registered(params):
        return [Event("l2_headers_skipped", [
            ("count", str(len(headers))), ("reason", "no L2 registered")])]
    # Lookups only (never iterated); a signer shared by several sequencers: the lowest id.
    sequencer_by_signer: dict[bytes, int] = {}
    for seq in reversed(get_sequencers(kv)):
        sequencer_by_signer[bytes(seq.signer)] = int(seq.id)
    events: list[Event] = []
    head_height, head_hash = get_l2_head(kv) or (0, b"")
    for index, header in enumerate(headers):
        reason = compute_header_reject_reason(header, head_height, head_hash)
        if reason:
            events.append(Event("l2_headers_skipped", [
                ("from_l2_height", str(header.height)), ("count", str(len(headers) - index)),
                ("reason", reason)]))
            break
        events += process_l2_header(kv, header, block, params, sequencer_by_signer)
        head_height, head_hash = int(header.height), bytes(header.hash)
    events.append(Event("l2_head", [("l2_height", str(head_height)),
                                    ("l2_block_hash", head_hash.hex())]))
    return events
