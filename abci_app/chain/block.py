"""A whole block: begin, attested input, user txs, end of block.

finalize_block(kv, block):
  1. record the block's height and time;
  2. apply the attested L1 events in nonce order (process_l1_events);
  3. the rest of the attested input, in this order:
       process_l1_confirmed_height  keep the max attested L1 height (names future seed blocks)
       process_seed_randomness      seed the epochs that named this L1 block
       process_l2_headers           advance the L2 head, epochs, produced counts
     Attested input comes before user txs: it describes L1 and the L2 as > 2/3 of
     the power saw them, while the proposer alone chooses and orders the user txs.
     So an epoch that starts in this block snapshots its lookahead candidates
     before any tx the proposer picked (an Unjail, say) takes effect, and the
     randomness is applied before the headers, so an epoch that starts in the
     same block uses it rather than the fallback;
  4. apply each user tx (process_tx), one result per tx;
  5. process_end_block, in this fixed order:
       process_downtime          decided_last_commit vs the set that signed H-1
       process_misbehavior       double signing: slash and tombstone
       process_withdrawal_queue  delays that ended become releasable
       process_rotation          ineligible or silent producer (L2 registered only)
       process_validator_updates diff for CometBFT (effective at H+2)
     Rewards are credited when an epoch closes (inside process_l2_headers).
"""

from abci_app.chain.l1events import process_l1_events
from abci_app.chain.l2 import process_l2_headers
from abci_app.chain.params import Params
from abci_app.chain.schedule import process_rotation
from abci_app.chain.seeds import process_l1_confirmed_height, process_seed_randomness
from abci_app.chain.slashing import process_downtime, process_misbehavior
from abci_app.chain.state import get_chain_state, get_params, put_chain_state
from abci_app.chain.txs import process_tx
from abci_app.chain.types import BlockInput, BlockOutcome, Event, ValidatorUpdate
from abci_app.chain.validators import process_validator_updates
from abci_app.chain.withdrawals import process_withdrawal_queue
from abci_app.store.kv import KVStore


def process_begin_block(kv: KVStore, block: BlockInput) -> None:
    chain = get_chain_state(kv)
    chain.last_height = block.height
    chain.last_block_time_ns = block.time_ns
    put_chain_state(kv, chain)


def process_attested_l2(kv: KVStore, block: BlockInput, params: Params) -> list[Event]:
    process_l1_confirmed_height(kv, block.l1_confirmed_height)
    events = process_seed_randomness(kv, block, params)
    return events + process_l2_headers(kv, block.l2_headers, block, params)


def process_end_block(
    kv: KVStore, block: BlockInput, params: Params
) -> tuple[list[ValidatorUpdate], list[Event]]:
    events = process_downtime(kv, block, params)
    events += process_misbehavior(kv, block, params)
    events += process_withdrawal_queue(kv, block.time_ns)
    events += process_rotation(kv, block, params)
    updates, update_events = process_validator_updates(kv, block.height, params)
    return updates, events + update_events


def finalize_block(kv: KVStore, block: BlockInput) -> BlockOutcome:
    params = get_params(kv)
    process_begin_block(kv, block)
    l1_results = process_l1_events(kv, block.l1_events, block, params)
    attested_events = process_attested_l2(kv, block, params)
    tx_results = [process_tx(kv, raw, block.chain_id, block.time_ns, params) for raw in block.txs]
    updates, events = process_end_block(kv, block, params)
    return BlockOutcome(tx_results=tx_results, validator_updates=updates,
                        events=attested_events + events, l1_results=l1_results)
