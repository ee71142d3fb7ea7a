"""FinalizeBlock of an empty block by registry size, in process on a MemoryKV.

The chain has an L2 registered (so the rotation runs) and each block carries the full
decided_last_commit of the validator set (so downtime windows are counted), as on a
live chain; "empty" means no tx and nothing attested.

The reference is the same number of items sorted by (power, id) in plain Python: what
one pass over the registry costs at least, measured beside it.
"""

import hashlib
import json
import time
from dataclasses import replace

from abci_app import chain
from abci_app.store.kv import MemoryKV
from bench.bench_chain import CHAIN_ID, ETH, GENESIS_NS, make_block
from bench.harness import Figure, Report, Sizes, best_of

TARGET_MS = {10_000: 2.0, 100_000: 5.0}
BLOCKS = 5


def make_registry_state(n: int) -> MemoryKV:
    sequencers = [{"id": i + 1, "owner": "0x" + "11" * 20, "signer": "0x%040x" % (i + 1),
                   "consensus_pubkey": hashlib.sha256(b"c%d" % i).digest(),
                   "locked_wei": (1 + i % 97) * ETH} for i in range(n)]
    l2 = {"l2_chain_id": 901, "l2_genesis_hash": "0x" + hashlib.sha256(b"l2").hexdigest()}
    app_state = json.dumps(chain.make_genesis_app_state(sequencers, l2)).encode()
    kv = MemoryKV()
    chain.init_chain(kv, app_state, CHAIN_ID, GENESIS_NS, 1)
    return kv


def measure_finalize(kv: MemoryKV, blocks: int = BLOCKS) -> float:
    """The fastest of `blocks` consecutive empty blocks, in seconds."""
    best = float("inf")
    for height in range(1, blocks + 1):
        votes = [chain.VoteInfo(e.address, e.power, True)
                 for e in chain.get_validator_set(kv, height - 1)]
        block = replace(make_block(height, []), decided_last_commit=votes)
        start = time.perf_counter()
        chain.finalize_block(kv, block)
        best = min(best, time.perf_counter() - start)
    return best


def measure_reference(n: int) -> float:
    items = [((1 + i % 97) * ETH, i + 1) for i in range(n)]
    return best_of(BLOCKS, lambda: sorted(items, key=lambda item: (-item[0], item[1])))


def run(report: Report, sizes: Sizes) -> None:
    for n in sizes.sequencers:
        seconds = measure_finalize(make_registry_state(n))
        reference = measure_reference(n)
        target = TARGET_MS.get(n)
        report.add(Figure("finalize", f"FinalizeBlock, empty, {n:,} sequencers", seconds * 1e3,
                          "ms", reference * 1e3, f"sorted() of {n:,} (power, id) tuples",
                          f"<= {target:g} ms" if target else "", None if target is None
                          else seconds * 1e3 <= target, higher_is_better=False, size=n))
