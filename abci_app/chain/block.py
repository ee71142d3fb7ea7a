"""A whole block: begin, attested input, rotation, user txs, end of block.

finalize_block(kv, block):
  1. record the block's height and time; a gap of rotation_timeout_s or more since
     the previous block (or genesis) means the chain itself was down, so nobody
     could attest production: the producer's clock restarts (process_begin_block);
  2. apply the attested L1 events in nonce order (process_l1_events);
  3. the rest of the attested input, in this order:
       process_l1_confirmed_height  keep the max attested L1 height (names future seed blocks)
       process_seed_randomness      seed the epochs that named this L1 block
       process_l2_headers           advance the L2 head, epochs, produced counts
       process_settlement_signatures add the relayed signatures to the in-flight batch
     Attested input comes before user txs: it describes L1 and the L2 as > 2/3 of
     the power saw them, while the proposer alone chooses and orders the user txs.
     So an epoch that starts in this block snapshots its lookahead candidates
     before any tx the proposer picked (an Unjail, say) takes effect, and the
     randomness is applied before the headers, so an epoch that starts in the
     same block uses it rather than the fallback;
  4. the rotation (L2 registered only), before any user tx, so that no tx the
     proposer picks (an Unjail, say) changes who is re-elected:
       process_seed_fallback     a waiting epoch's fallback seed (seeds.py's docstring)
       process_rotation          ineligible or silent producer: fault, re-election
  5. apply each user tx (process_tx), one result per tx;
  6. process_end_block, in this fixed order:
       process_downtime          decided_last_commit vs the set that signed H-1
       process_misbehavior       double signing: slash and tombstone
       process_withdrawal_queue  delays that ended become releasable
       process_settlement_batch  form the next settlement batch (l1_chain_id set only)
       process_validator_updates diff for CometBFT (effective at H+2)
     Rewards are credited when an epoch closes (inside process_l2_headers).

Per-block work follows what changed: the block's writes go through BlockWrites, which
notes whether the validator index moved. When it did not, process_rotation checks the
current producer from its own record instead of reading the candidates, and
process_validator_updates sends no diff without reading the index (see each).
"""

from collections.abc import Iterator

from abci_app.chain import keys
from abci_app.chain.l1events import process_l1_events
from abci_app.chain.l2 import process_l2_headers
from abci_app.chain.params import NS_PER_S, Params
from abci_app.chain.schedule import process_rotation
from abci_app.chain.seeds import (
    process_l1_confirmed_height,
    process_seed_fallback,
    process_seed_randomness,
)
from abci_app.chain.settlement import process_settlement_batch, process_settlement_signatures
from abci_app.chain.slashing import process_downtime, process_misbehavior
from abci_app.chain.state import get_chain_state, get_params, put_chain_state
from abci_app.chain.txs import process_tx
from abci_app.chain.types import BlockInput, BlockOutcome, Event, ValidatorUpdate
from abci_app.chain.validators import process_validator_updates
from abci_app.chain.withdrawals import process_withdrawal_queue
from abci_app.store.kv import KVStore


class BlockWrites:
    """A block's KVStore: reads go straight to `kv`; writes note whether any touched the
    validator index. Deterministic: a function of the block's own writes."""

    def __init__(self, kv: KVStore) -> None:
        self._kv = kv
        self.get = kv.get
        self.validator_index_changed = False

    def set(self, key: bytes, value: bytes) -> None:
        self._note(key)
        self._kv.set(key, value)

    def delete(self, key: bytes) -> None:
        self._note(key)
        self._kv.delete(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return self._kv.iterate(prefix, start)

    def _note(self, key: bytes) -> None:
        if key.startswith(keys.VALIDATOR_INDEX_PREFIX):
            self.validator_index_changed = True


def process_begin_block(kv: KVStore, block: BlockInput, params: Params) -> None:
    chain = get_chain_state(kv)
    if block.time_ns - chain.last_block_time_ns >= params.rotation_timeout_s * NS_PER_S:
        chain.last_progress_time_ns = max(int(chain.last_progress_time_ns), block.time_ns)
    chain.last_height = block.height
    chain.last_block_time_ns = block.time_ns
    put_chain_state(kv, chain)


def process_attested_l2(
    kv: KVStore, block: BlockInput, params: Params, observed_time_ns: int
) -> list[Event]:
    events = process_l1_confirmed_height(kv, block.l1_confirmed_height)
    events += process_seed_randomness(kv, block, params)
    events += process_l2_headers(kv, block.l2_headers, block, params, observed_time_ns)
    return events + process_settlement_signatures(kv, block)


def process_end_block(
    kv: BlockWrites, block: BlockInput, params: Params
) -> tuple[list[ValidatorUpdate], list[Event]]:
    events = process_downtime(kv, block, params)
    events += process_misbehavior(kv, block, params)
    events += process_withdrawal_queue(kv, block.time_ns)
    events += process_settlement_batch(kv, block, params)
    updates, update_events = process_validator_updates(
        kv, block.height, params, index_changed=kv.validator_index_changed)
    return updates, events + update_events


def finalize_block(store: KVStore, block: BlockInput) -> BlockOutcome:
    kv = BlockWrites(store)
    params = get_params(kv)
    # This block's votes were cast on the previous block: what they attest was seen by then.
    observed_time_ns = int(get_chain_state(kv).last_block_time_ns)
    process_begin_block(kv, block, params)
    l1_results = process_l1_events(kv, block.l1_events, block, params)
    attested_events = process_attested_l2(kv, block, params, observed_time_ns)
    attested_events += process_seed_fallback(kv, block, params)
    attested_events += process_rotation(kv, block, params,
                                        index_changed=kv.validator_index_changed)
    tx_results = [process_tx(kv, raw, block.chain_id, block.time_ns, params) for raw in block.txs]
    updates, events = process_end_block(kv, block, params)
    return BlockOutcome(tx_results=tx_results, validator_updates=updates,
                        events=attested_events + events, l1_results=l1_results)
