"""The key/value interface that the state machine reads and writes."""

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

    def get(self, key: bytes) -> bytes | None:
        return self._items.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self._items[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self._items.pop(key, None)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self._items if k.startswith(prefix) and k >= start):
            yield key, self._items[key]

    def items(self) -> dict[bytes, bytes]:
        return dict(self._items)
