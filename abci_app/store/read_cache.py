"""Committed reads, kept equal to the committed data across commits.

Committed data changes only through the StateStore's writes, so a key's value and a
prefix scan's result stay what they were read as until a write touches them. Every
height reads the same few records many times (params, chain state, validator sets, in
PrepareProposal, ProcessProposal, ExtendVote, FinalizeBlock and CheckTx), and each
LevelDB read or iterator costs far more than a dict lookup. A commit tells the cache
its changes (`apply`): it updates the values it holds and drops the scans they touch.
A restore or wipe replaces the cache.

A read that misses stores what it read only if no commit was applied since it
started (the epoch), so a read racing a commit never leaves a stale entry.

Bounded: at most MAX_CACHED_KEYS values and MAX_CACHED_SCANS scans of at most
MAX_SCAN_ITEMS entries (each starts over when full). A scan that misses reads
MAX_SCAN_ITEMS + 1 entries ahead to learn whether it is small; a larger one reads the
database every time.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from itertools import islice

MAX_CACHED_KEYS = 8192
MAX_CACHED_SCANS = 1024
MAX_SCAN_ITEMS = 32

Scan = tuple[bytes, bytes]  # (prefix, start)
Item = tuple[bytes, bytes]


class ReadCache:
    """Values and small complete scans of the committed state."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes | None] = {}
        self._scans: dict[Scan, list[Item]] = {}
        self._epoch = 0  # bumped by every apply
        self._lock = threading.Lock()  # guards stores against a concurrent apply

    def get(self, key: bytes, read: Callable[[bytes], bytes | None]) -> bytes | None:
        values = self._values
        if key in values:  # entries are only overwritten, never removed
            return values[key]
        epoch = self._epoch
        value = read(key)
        with self._lock:
            if epoch == self._epoch:
                if len(self._values) >= MAX_CACHED_KEYS:
                    self._values = {}
                self._values[key] = value
        return value

    def iterate(self, prefix: bytes, start: bytes,
                scan: Callable[[bytes, bytes], Iterator[Item]]) -> Iterator[Item]:
        found = self._scans.get((prefix, start))
        if found is not None:
            yield from found
            return
        epoch = self._epoch
        items = scan(prefix, start)
        # Read a little ahead, so a small scan is remembered even when its caller
        # stops early (get_validator_index(kv, 1) asks only whether the index is empty).
        first = list(islice(items, MAX_SCAN_ITEMS + 1))
        if len(first) <= MAX_SCAN_ITEMS:
            with self._lock:
                if epoch == self._epoch:
                    # Full: start over, as the values do. Refusing new scans instead would
                    # let paged queries (any cursor) fill the table and keep it full.
                    if len(self._scans) >= MAX_CACHED_SCANS:
                        self._scans = {}
                    self._scans[(prefix, start)] = first
        yield from first
        yield from items

    def apply(self, changes: Mapping[bytes, bytes | None]) -> None:
        """Follow writes (None = delete) that the database has just committed."""
        with self._lock:
            self._epoch += 1
            values = self._values
            for key, value in changes.items():
                if key in values:
                    values[key] = value
            if self._scans and changes:
                self._scans = _drop_touched(self._scans, changes)


def _drop_touched(scans: dict[Scan, list[Item]],
                  changes: Mapping[bytes, bytes | None]) -> dict[Scan, list[Item]]:
    """The scans whose prefix no changed key starts with (a new dict: readers may hold
    the old one)."""
    lengths = {len(prefix) for prefix, _ in scans}
    touched = {key[:n] for key in changes for n in lengths}
    return {scan: items for scan, items in scans.items() if scan[0] not in touched}
