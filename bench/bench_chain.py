"""Bench the state machine: schedule computation by sequencer count, a 1,000-tx block,
and a block of attested L2 headers.

Run: .venv/bin/python bench/bench_chain.py
Times are wall-clock on this machine (best of several runs), for information only.
"""

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abci_app import chain, pb  # noqa: E402
from abci_app.chain import txsign  # noqa: E402
from abci_app.chain.messages import state  # noqa: E402
from abci_app.chain.messages import tx as tx_pb  # noqa: E402
from abci_app.chain.params import Params  # noqa: E402
from abci_app.chain.schedule import (  # noqa: E402
    compute_fallback_seed,
    compute_producer,
    compute_producer_at,
    get_epoch_schedule,
)
from abci_app.chain.validators import compute_validator_set  # noqa: E402
from abci_app.store.kv import MemoryKV  # noqa: E402

CHAIN_ID = "seqset-bench"
ETH = 10**18
GENESIS_NS = 1_700_000_000 * 10**9


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def make_sequencers(n: int) -> list[state.Sequencer]:
    return [
        state.Sequencer(id=i, consensus_pubkey=hashlib.sha256(b"k%d" % i).digest(),
                        locked_wei=str((1 + i % 97) * ETH), l1_locked_wei=str((1 + i % 97) * ETH),
                        status=state.SEQUENCER_STATUS_ACTIVE)
        for i in range(1, n + 1)
    ]


def bench_schedule() -> None:
    print("schedule: compute_validator_set (sort, O(n log n)) + compute_producer (prefix sums)")
    base = None
    for n in (10, 100, 1_000, 10_000):
        sequencers = make_sequencers(n)
        params = Params(max_validators=n)
        seed = compute_fallback_seed(b"\x01" * 32, 7)

        def run(seqs: list[state.Sequencer] = sequencers, p: Params = params,
                s: bytes = seed) -> int:
            return compute_producer(s, compute_validator_set(seqs, p))

        seconds = best_of(5, run)
        base = base or seconds
        ratio = seconds / base
        print(f"  {n:>6} sequencers: {seconds * 1e3:9.3f} ms   ({ratio:7.1f}x the 10 case)")


def make_block(height: int, txs: list[bytes],
               l2_headers: list[pb.l2.L2Header] | None = None) -> chain.BlockInput:
    return chain.BlockInput(height=height, time_ns=GENESIS_NS + height * 10**9,
                            chain_id=CHAIN_ID, proposer_address=b"", last_app_hash=b"",
                            decided_last_commit=[], misbehavior=[], l1_events=[], txs=txs,
                            l2_headers=l2_headers or [])


def bench_finalize_block(n_txs: int = 1_000) -> None:
    """n_txs valid Unjail txs, each from its own jailed sequencer (time served)."""
    signer_keys = [hashlib.sha256(b"s%d" % i).digest() for i in range(n_txs + 1)]
    sequencers = [{"id": i + 1, "owner": "0x" + "11" * 20,
                   "signer": txsign.compute_signer_address(key),
                   "consensus_pubkey": hashlib.sha256(b"c%d" % i).digest(),
                   "locked_wei": 10 * ETH, "status": "active" if i == 0 else "jailed"}
                  for i, key in enumerate(signer_keys)]
    app_state = json.dumps(chain.make_genesis_app_state(sequencers)).encode()
    kv = MemoryKV()
    chain.init_chain(kv, app_state, CHAIN_ID, GENESIS_NS, 1)
    txs = [txsign.sign_tx(tx_pb.TxBody(chain_id=CHAIN_ID, nonce=0, unjail=tx_pb.Unjail(
        sequencer_id=i + 2)), signer_keys[i + 1]) for i in range(n_txs)]
    block = make_block(1, txs)
    for label, warm in (("cold signature cache", False), ("after CheckTx (warm cache)", True)):
        txsign.clear_signature_cache()
        if warm:
            check_kv = MemoryKV(kv.items())
            assert all(chain.check_tx(check_kv, raw, CHAIN_ID).code == 0 for raw in txs)
        fresh = MemoryKV(kv.items())
        start = time.perf_counter()
        outcome = chain.finalize_block(fresh, block)
        seconds = time.perf_counter() - start
        assert all(r.code == 0 for r in outcome.tx_results), "every bench tx must be valid"
        print(f"finalize_block, {n_txs} signed Unjail txs, {label}: {seconds * 1e3:8.1f} ms "
              f"({seconds / n_txs * 1e6:6.1f} us/tx)")


def bench_l2_headers(n_sequencers: int = 100, n_headers: int = 64) -> None:
    """One block carrying a full extension's worth of attested L2 headers."""
    sequencers = [{"id": i + 1, "owner": "0x" + "11" * 20, "signer": "0x%040x" % (i + 1),
                   "consensus_pubkey": hashlib.sha256(b"c%d" % i).digest(),
                   "locked_wei": 10 * ETH} for i in range(n_sequencers)]
    genesis_hash = hashlib.sha256(b"l2-genesis").digest()
    app_state = json.dumps(chain.make_genesis_app_state(sequencers, {
        "l2_chain_id": 901, "l2_genesis_hash": "0x" + genesis_hash.hex(),
        "epoch_length": 10 * n_headers})).encode()
    kv = MemoryKV()
    chain.init_chain(kv, app_state, CHAIN_ID, GENESIS_NS, 1)
    schedule = get_epoch_schedule(kv, 0)
    assert schedule is not None
    producer = (compute_producer_at(schedule, 1)).to_bytes(20, "big")
    headers, parent = [], genesis_hash
    for height in range(1, n_headers + 1):
        block_hash = hashlib.sha256(b"l2-%d" % height).digest()
        headers.append(pb.l2.L2Header(height=height, hash=block_hash, parent_hash=parent,
                                      producer=producer))
        parent = block_hash
    block = make_block(1, [], headers)
    seconds = best_of(5, lambda: chain.finalize_block(MemoryKV(kv.items()), block))
    print(f"finalize_block, {n_headers} attested L2 headers, {n_sequencers} sequencers: "
          f"{seconds * 1e3:8.1f} ms ({seconds / n_headers * 1e6:6.1f} us/header)")


if __name__ == "__main__":
    bench_schedule()
    bench_finalize_block()
    bench_l2_headers()
