"""Raw byte storage under the state store: LevelDB (plyvel), or memory for unit tests.

Both backends offer the same small surface, so the StateStore runs one code path:
point reads, ascending prefix iteration, a consistent read-only view, and an
atomic write of a sequence of puts and deletes.
"""

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import plyvel

# (key, value) to put, or (key, None) to delete.
WriteOp = tuple[bytes, bytes | None]


class Reader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...


class Backend(Reader, Protocol):
    def write(self, ops: Iterable[WriteOp]) -> None: ...

    def view(self) -> AbstractContextManager[Reader]: ...

    def close(self) -> None: ...


class _PlyvelReader:
    def __init__(self, source: Any) -> None:
        self._source = source  # a plyvel DB or Snapshot: same get/iterator API

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._source.get(key)
        return value

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        # plyvel iterators read from an implicit snapshot taken when they are created.
        if start <= prefix:
            yield from self._source.iterator(prefix=prefix)
            return
        # plyvel takes prefix or start, not both: seek to start, stop past the prefix.
        for key, value in self._source.iterator(start=start):
            if not key.startswith(prefix):
                return
            yield key, value


class PlyvelBackend(_PlyvelReader):
    def __init__(self, path: str) -> None:
        self._db = plyvel.DB(path, create_if_missing=True)
        super().__init__(self._db)

    def write(self, ops: Iterable[WriteOp]) -> None:
        """Apply all ops or none: an exception while filling the batch discards it."""
        with self._db.write_batch(transaction=True, sync=True) as batch:
            for key, value in ops:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    @contextmanager
    def _view(self) -> Iterator[Reader]:
        snapshot = self._db.snapshot()
        try:
            yield _PlyvelReader(snapshot)
        finally:
            snapshot.close()

    def view(self) -> AbstractContextManager[Reader]:
        return self._view()

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()


class MemoryBackend:
    """A dict with a lazily rebuilt sorted key list for prefix iteration."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self._items: dict[bytes, bytes] = dict(items or {})
        self._sorted: list[bytes] | None = None

    def get(self, key: bytes) -> bytes | None:
        return self._items.get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self._items)
        keys = self._sorted
        first = bisect_left(keys, max(prefix, start))
        # Materialise first, like a LevelDB iterator's implicit snapshot.
        found = []
        for key in keys[first:]:
            if not key.startswith(prefix):
                break
            found.append((key, self._items[key]))
        yield from found

    def write(self, ops: Iterable[WriteOp]) -> None:
        staged = list(ops)  # an exception here leaves the contents untouched
        for key, value in staged:
            if value is None:
                self._items.pop(key, None)
            else:
                self._items[key] = value
        self._sorted = None

    @contextmanager
    def _view(self) -> Iterator[Reader]:
        yield MemoryBackend(self._items)

    def view(self) -> AbstractContextManager[Reader]:
        return self._view()

    def close(self) -> None:
        self._items = {}
        self._sorted = None
