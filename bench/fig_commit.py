"""Commit of 100 changed keys on a LevelDB StateStore already holding N keys.

The store is bulk-built the way a snapshot restore builds it (restore_data plus
compute_root_from_items), then 100 existing keys change per block. The reference is
100 plain puts in one synced LevelDB batch on the same database.
"""

import shutil
import time
from pathlib import Path

from abci_app.store import smt
from abci_app.store.state_store import StateStore
from bench.harness import Figure, Report, Sizes

CHANGED_KEYS = 100
BLOCKS = 5
TARGET_MS = {1_000_000: 10.0}


def build_store(path: Path, n: int) -> StateStore:
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = StateStore(str(path))
    items = [(b"key/%010d" % i, b"value/%d" % i) for i in range(n)]
    store.restore_data(items)
    root, node_ops = smt.compute_root_from_items(items)
    store.finish_restore(1, root, node_ops)
    return store


def measure_commit(store: StateStore, n: int) -> float:
    """The fastest of BLOCKS commits of CHANGED_KEYS spread-out keys, in seconds."""
    best = float("inf")
    stride = max(1, n // CHANGED_KEYS)
    for block in range(BLOCKS):
        overlay = store.overlay()
        for i in range(CHANGED_KEYS):
            overlay.set(b"key/%010d" % ((i * stride + block) % n), b"block %d" % block)
        start = time.perf_counter()
        store.commit(overlay, store.last_height + 1)
        best = min(best, time.perf_counter() - start)
    return best


def measure_reference(path: Path) -> float:
    """CHANGED_KEYS plain puts in one synced batch, through plyvel directly."""
    import plyvel

    db = plyvel.DB(str(path), create_if_missing=True)
    best = float("inf")
    try:
        for block in range(BLOCKS):
            start = time.perf_counter()
            with db.write_batch(transaction=True, sync=True) as batch:
                for i in range(CHANGED_KEYS):
                    batch.put(b"\x03bench/%d" % i, b"block %d" % block)
            best = min(best, time.perf_counter() - start)
    finally:
        db.close()
    return best


def run(report: Report, sizes: Sizes, workdir: Path) -> None:
    for n in sizes.commit_keys:
        path = workdir / f"commit-{n}"
        store = build_store(path, n)
        try:
            seconds = measure_commit(store, n)
        finally:
            store.close()
        reference = measure_reference(path)
        shutil.rmtree(path, ignore_errors=True)
        target = TARGET_MS.get(n)
        report.add(Figure("commit", f"Commit of {CHANGED_KEYS} keys at {n:,} keys",
                          seconds * 1e3, "ms", reference * 1e3,
                          f"{CHANGED_KEYS} LevelDB puts, one synced batch",
                          f"<= {target:g} ms" if target else "", None if target is None
                          else seconds * 1e3 <= target, higher_is_better=False, size=n))
