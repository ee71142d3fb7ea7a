"""The key/value interface that the state machine reads and writes."""

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from typing import Protocol


class KVStore(Protocol):
    """Byte keys to byte values. Iteration is in ascending key order.

    iterate(prefix, start) yields the entries under `prefix` whose key is >= `start`,
    so a reader can resume from a cursor without reading what lies before it.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...


class MemoryKV:
    """A dict-backed KVStore for unit tests and scratch work."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self._items: dict[bytes, bytes] = dict(items or {})
        # Sorted keys, so iterate costs what it yields; keys added since are merged in lazily.
        self._sorted: list[bytes] = sorted(self._items)
        self._added: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        return self._items.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        key = bytes(key)
        if key not in self._items:
            self._added.add(key)
        self._items[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        if self._items.pop(key, None) is None:
            return
        if key in self._added:
            self._added.discard(key)
        else:
            del self._sorted[bisect_left(self._sorted, key)]

    def _merge_added(self) -> None:
        if len(self._added) * 16 > len(self._sorted):
            self._sorted = sorted(self._items)
        else:
            for key in sorted(self._added):
                insort(self._sorted, key)
        self._added.clear()

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Lazy; each step resumes after the last key seen, so writes during iteration
        are safe (keys written ahead of the cursor are seen)."""
        index = bisect_left(self._sorted_keys(), max(prefix, start))
        while index < len(self._sorted_keys()):
            key = self._sorted[index]
            if not key.startswith(prefix):
                return
            yield key, self._items[key]
            index = bisect_right(self._sorted_keys(), key)

    def _sorted_keys(self) -> list[bytes]:
        if self._added:
            self._merge_added()
        return self._sorted

    def items(self) -> dict[bytes, bytes]:
        return dict(self._items)
