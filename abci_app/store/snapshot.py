"""State-sync snapshots of the committed data, and their restore.

Chunk format: a sequence of records, each `key_len (uint32 BE) || key ||
value_len (uint32 BE) || value`, over the data keyspace only, in ascending key order.
A chunk ends at a record boundary and holds at most `chunk_size_bytes` unless a
single record is larger. An empty state is one empty chunk. The tree is not shipped:
the restorer rebuilds it from the data and checks the root against the trusted app hash.
"""

from collections.abc import Iterable, Iterator

from abci_app.store import smt
from abci_app.store.state_store import StateStore, StoreError

_LEN = 4


class SnapshotError(StoreError):
    """A snapshot chunk is malformed or the restored state does not match its app hash."""


def compute_record(key: bytes, value: bytes) -> bytes:
    return len(key).to_bytes(_LEN, "big") + key + len(value).to_bytes(_LEN, "big") + value


def compute_chunks(items: Iterable[tuple[bytes, bytes]], chunk_size_bytes: int) -> list[bytes]:
    """Pack records into chunks of at most chunk_size_bytes, cut at record boundaries."""
    if chunk_size_bytes < 1:
        raise ValueError(f"chunk_size_bytes must be positive, got {chunk_size_bytes}")
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for key, value in items:
        record = compute_record(key, value)
        if current and size + len(record) > chunk_size_bytes:
            chunks.append(b"".join(current))
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current or not chunks:
        chunks.append(b"".join(current))
    return chunks


def compute_records(chunk: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Decode a chunk's records; raises SnapshotError on any malformed byte."""
    at, end = 0, len(chunk)
    while at < end:
        key, at = _read_field(chunk, at, "key")
        value, at = _read_field(chunk, at, "value")
        yield key, value


def _read_field(chunk: bytes, at: int, name: str) -> tuple[bytes, int]:
    if at + _LEN > len(chunk):
        raise SnapshotError(f"chunk truncated in a {name} length at byte {at}")
    size = int.from_bytes(chunk[at: at + _LEN], "big")
    start = at + _LEN
    if start + size > len(chunk):
        raise SnapshotError(f"chunk truncated in a {name} of {size} bytes at byte {start}")
    return chunk[start: start + size], start + size


def export_snapshot(store: StateStore, chunk_size_bytes: int) -> tuple[int, bytes, list[bytes]]:
    """(height, app_hash, chunks) of the committed state, read from one consistent view."""
    with store.consistent_view() as view:
        chunks = compute_chunks(view.iterate(b""), chunk_size_bytes)
        return view.last_height, view.last_app_hash, chunks


class SnapshotRestorer:
    """Fills an empty store from snapshot chunks, then checks the rebuilt root.

    Chunks may arrive in any order. Any failure wipes the store, so it is left empty.
    """

    def __init__(self, store: StateStore) -> None:
        if store.last_height != 0:
            raise SnapshotError(f"cannot restore into a store at height {store.last_height}")
        store.wipe()  # leftovers of an interrupted restore
        self._store = store

    def apply_chunk(self, index: int, chunk: bytes) -> None:
        """Write one chunk's records; raises SnapshotError (store wiped) if malformed."""
        try:
            items = list(compute_records(chunk))
            _check_ascending(index, items)
        except SnapshotError:
            self._store.wipe()
            raise
        self._store.restore_data(items)

    def finish(self, expected_height: int, expected_app_hash: bytes) -> None:
        """Rebuild the tree; install it and the height only if the root is as expected."""
        root, node_ops = smt.compute_root_from_items(self._store.iterate(b""))
        if root != expected_app_hash or expected_height < 1:
            self._store.wipe()
            raise SnapshotError(
                f"restored state at height {expected_height} has root {root.hex()}, "
                f"expected {expected_app_hash.hex()}")
        self._store.finish_restore(expected_height, root, node_ops)


def _check_ascending(index: int, items: list[tuple[bytes, bytes]]) -> None:
    # Verify keys are strictly ascending, which also rules out duplicates in a chunk.
    for (prev, _), (key, _) in zip(items, items[1:], strict=False):
        if key <= prev:
            raise SnapshotError(f"chunk {index}: keys out of order at {key.hex()}")
