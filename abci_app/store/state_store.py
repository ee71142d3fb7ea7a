"""The committed state: key/value data, its Merkle tree and metadata in one LevelDB.

Keyspaces inside the one database (keys.py-style constants, pinned by a golden test):

    b"\\x00meta/..."   metadata: last committed height and app hash
    b"\\x01d" + key    state data (committed to by the app hash)
    b"\\x01n" + ...    sparse Merkle tree nodes by position (see smt.py)
    b"\\x02l" + key    local data outside the Merkle tree (per-node bookkeeping)

Writes go through an `Overlay`, which buffers them in memory. `compute_app_hash`
computes the new root without writing; `commit` writes data, tree nodes, metadata
and local entries in one atomic, synced LevelDB batch. The store is single-writer
and not thread-safe.
"""

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from abci_app.store import smt
from abci_app.store.backend import Backend, MemoryBackend, PlyvelBackend, Reader, WriteOp
from abci_app.store.node_cache import TOP_DEPTH, TopNodeCache
from abci_app.store.read_cache import ReadCache

META_HEIGHT_KEY = b"\x00meta/last_height"
META_APP_HASH_KEY = b"\x00meta/last_app_hash"
DATA_PREFIX = b"\x01d"
NODE_PREFIX = smt.NODE_PREFIX
LOCAL_PREFIX = b"\x02l"

_sha256 = hashlib.sha256


class StoreError(Exception):
    """The store was used against its rules (a bug in the caller, not bad input)."""


@dataclass(frozen=True)
class _HashCache:
    version: int
    generation: int
    root: bytes
    node_ops: smt.NodeOps


class Overlay:
    """A KVStore over the committed data that buffers writes in memory.

    Overlays never see each other's pending writes. An overlay is tied to the
    committed state it was created on: after another commit it can still be read
    but no longer hashed or committed.
    """

    def __init__(self, store: "StateStore") -> None:
        self._store = store
        self._generation = store.generation
        self._pending: dict[bytes, bytes | None] = {}
        self._sorted_pending: list[bytes] | None = []
        self._version = 0
        self._hash_cache: _HashCache | None = None

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def version(self) -> int:
        """Bumped on every write, so a cached app hash knows when it is stale."""
        return self._version

    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        return self._store.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self._write(bytes(key), bytes(value))

    def delete(self, key: bytes) -> None:
        self._write(bytes(key), None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if key not in self._pending:
            self._sorted_pending = None
        self._pending[key] = value
        self._version += 1

    def pending(self) -> dict[bytes, bytes | None]:
        """A copy of the buffered writes (None = delete)."""
        return dict(self._pending)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Committed and pending entries under `prefix` from `start`, ascending, deletes honoured.

        Pending writes are read as of the start of iteration.
        """
        if self._sorted_pending is None:
            self._sorted_pending = sorted(self._pending)
        pending = [(k, self._pending[k]) for k in self._sorted_pending
                   if k.startswith(prefix) and k >= start]
        committed = self._store.iterate(prefix, start)
        i = 0
        for key, value in committed:
            while i < len(pending) and pending[i][0] < key:
                yield from _live(pending[i])
                i += 1
            if i < len(pending) and pending[i][0] == key:
                yield from _live(pending[i])
                i += 1
            else:
                yield key, value
        for entry in pending[i:]:
            yield from _live(entry)

    def cached_hash(self) -> _HashCache | None:
        cache = self._hash_cache
        if cache is None or cache.version != self._version \
                or cache.generation != self._store.generation:
            return None
        return cache

    def remember_hash(self, root: bytes, node_ops: smt.NodeOps) -> _HashCache:
        self._hash_cache = _HashCache(self._version, self._store.generation, root, node_ops)
        return self._hash_cache


def _live(entry: tuple[bytes, bytes | None]) -> Iterator[tuple[bytes, bytes]]:
    key, value = entry
    if value is not None:
        yield key, value


class StateStore:
    """LevelDB at `path` (created if missing), or memory when `path` is None.

    Tree nodes down to `cached_depth` are kept in memory (see node_cache.py).
    """

    def __init__(self, path: str | None, cached_depth: int = TOP_DEPTH) -> None:
        self._db: Backend = MemoryBackend() if path is None else PlyvelBackend(path)
        self._generation = 0
        self._height, self._app_hash = _read_meta(self._db)
        self._top_nodes = TopNodeCache(self._db, cached_depth)
        self._reads = ReadCache()  # follows every commit; replaced by a restore or wipe

    # --- committed state -------------------------------------------------------------

    @property
    def last_height(self) -> int:
        return self._height

    @property
    def last_app_hash(self) -> bytes:
        return self._app_hash

    @property
    def generation(self) -> int:
        """Number of commits through this handle; overlays remember it."""
        return self._generation

    def get(self, key: bytes) -> bytes | None:
        return self._reads.get(key, self._read)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return self._reads.iterate(prefix, start, self._scan)

    def _read(self, key: bytes) -> bytes | None:
        return self._db.get(DATA_PREFIX + key)

    def _scan(self, prefix: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        cut = len(DATA_PREFIX)
        for key, value in self._db.iterate(DATA_PREFIX + prefix, DATA_PREFIX + start):
            yield key[cut:], value

    def _rewrite(self, ops: Iterable[WriteOp]) -> None:
        """A restore's or wipe's database write; a new read cache after it, never before."""
        self._db.write(ops)
        self._reads = ReadCache()

    def local_get(self, key: bytes) -> bytes | None:
        return self._db.get(LOCAL_PREFIX + key)

    def read_node(self, node_key: bytes) -> bytes | None:
        return self._top_nodes.read(node_key)

    def query(self, key: bytes, prove: bool) -> tuple[bytes | None, bytes | None]:
        """Committed value of `key` and, if asked, its proof against last_app_hash."""
        value = self.get(key)
        proof = smt.get_proof(self.read_node, key) if prove else None
        return value, proof

    # --- blocks ----------------------------------------------------------------------

    def overlay(self) -> Overlay:
        return Overlay(self)

    def compute_app_hash(self, overlay: Overlay) -> bytes:
        """The Merkle root after `overlay`'s writes; reads only, result cached on it."""
        return self._hash_overlay(overlay).root

    def _hash_overlay(self, overlay: Overlay) -> _HashCache:
        self._check_overlay(overlay)
        cache = overlay.cached_hash()
        if cache is None:
            changes = [(_sha256(k).digest(), None if v is None else _sha256(v).digest())
                       for k, v in overlay.pending().items()]
            root, node_ops = smt.compute_update(self._top_nodes.read, changes)
            cache = overlay.remember_hash(root, node_ops)
        return cache

    def commit(self, overlay: Overlay, height: int,
               local: dict[bytes, bytes | None] | None = None) -> bytes:
        """Write `overlay` as block `height` in one atomic batch; return the app hash.

        Raises StoreError if the height does not follow last_height (any height >= 1 is
        accepted as the first block, which may be the chain's initial_height) or if the
        overlay was created before another commit.
        """
        # Verify the height follows the last committed one.
        if height < 1 or (self._height != 0 and height != self._height + 1):
            raise StoreError(f"commit of height {height} after last height {self._height}")
        cache = self._hash_overlay(overlay)
        pending = overlay.pending()
        self._db.write(compute_commit_ops(pending, cache.node_ops, height,
                                          cache.root, local or {}))
        self._reads.apply(pending)
        self._top_nodes.apply(cache.node_ops.items())
        self._height, self._app_hash = height, cache.root
        self._generation += 1
        return cache.root

    def _check_overlay(self, overlay: Overlay) -> None:
        # Verify the overlay's base is still the committed state.
        if overlay.generation != self._generation:
            raise StoreError("overlay was created before the last commit; create a new one")

    # --- snapshots and restore -------------------------------------------------------

    @contextmanager
    def consistent_view(self) -> Iterator["StoreView"]:
        """A read-only view of committed state that later commits do not change."""
        with self._db.view() as reader:
            yield StoreView(reader)

    def restore_data(self, items: list[tuple[bytes, bytes]]) -> None:
        """Write restored data entries (state sync); only into a store with no height."""
        self._require_unheighted("restore data")
        self._rewrite((DATA_PREFIX + k, v) for k, v in items)

    def finish_restore(self, height: int, app_hash: bytes, node_ops: smt.NodeOps) -> None:
        """Install the rebuilt tree and the restored height in one batch."""
        self._require_unheighted("finish a restore")
        if height < 1:
            raise StoreError(f"restored height {height} must be >= 1")
        ops: list[WriteOp] = list(node_ops.items())
        ops += [(META_HEIGHT_KEY, height.to_bytes(8, "big")), (META_APP_HASH_KEY, app_hash)]
        self._top_nodes.clear()
        self._rewrite(ops)
        self._height, self._app_hash = height, app_hash
        self._generation += 1

    def wipe(self) -> None:
        """Delete everything; only for a store that has no committed height."""
        self._require_unheighted("wipe")
        self._top_nodes.clear()
        self._rewrite((key, None) for key, _ in self._db.iterate(b""))
        self._generation += 1

    def _require_unheighted(self, action: str) -> None:
        if self._height != 0:
            raise StoreError(f"cannot {action}: the store holds height {self._height}")

    def close(self) -> None:
        self._db.close()


class StoreView:
    """Committed data and metadata as of one moment (a LevelDB snapshot)."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self.last_height, self.last_app_hash = _read_meta(reader)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        cut = len(DATA_PREFIX)
        for key, value in self._reader.iterate(DATA_PREFIX + prefix, DATA_PREFIX + start):
            yield key[cut:], value


def compute_commit_ops(pending: dict[bytes, bytes | None], node_ops: smt.NodeOps,
                       height: int, app_hash: bytes,
                       local: dict[bytes, bytes | None]) -> Iterator[WriteOp]:
    """Every write of one commit, in the order they enter the batch."""
    for key, value in pending.items():
        yield DATA_PREFIX + key, value
    yield from node_ops.items()
    yield META_HEIGHT_KEY, height.to_bytes(8, "big")
    yield META_APP_HASH_KEY, app_hash
    for key, value in local.items():
        yield LOCAL_PREFIX + key, value


def _read_meta(reader: Reader) -> tuple[int, bytes]:
    raw_height = reader.get(META_HEIGHT_KEY)
    height = 0 if raw_height is None else int.from_bytes(raw_height, "big")
    return height, reader.get(META_APP_HASH_KEY) or b""
