"""The confirmed events as the gRPC side reads them, shared with the watcher thread.

Append-only: index i holds nonce i + 1, and the confirmed height only grows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from abci_app import pb

SERVER_MAX_EVENTS = 1000  # per Observed answer, whatever the caller asks
SERVER_MAX_BYTES = 2 * 1024 * 1024  # well below gRPC's 4 MiB message limit
RANDOMNESS_CACHE_SIZE = 64  # L1 heights remembered (the chain asks for one at a time)


@dataclass(frozen=True)
class ObservedBatch:
    events: list[pb.events.L1Event]
    confirmed_height: int
    last_nonce: int


def compute_limit(requested: int, server_max: int) -> int:
    """The caller's bound, where 0 means "the server's own", never above the server's."""
    return server_max if requested <= 0 else min(requested, server_max)


class ObservedLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[pb.events.L1Event] = []
        self._sizes: list[int] = []
        self._confirmed_height = 0

    def load(self, confirmed_height: int, events: Sequence[pb.events.L1Event]) -> None:
        with self._lock:
            self._events = list(events)
            self._sizes = [e.ByteSize() for e in events]
            self._confirmed_height = confirmed_height

    def append(self, confirmed_height: int, events: Sequence[pb.events.L1Event]) -> None:
        """Adds newly confirmed events; they must continue the nonce sequence."""
        with self._lock:
            for event in events:
                if event.nonce != len(self._events) + 1:
                    raise ValueError(f"event nonce {event.nonce} does not follow "
                                     f"{len(self._events)}")
                self._events.append(event)
                self._sizes.append(event.ByteSize())
            self._confirmed_height = max(self._confirmed_height, confirmed_height)

    def get_after(self, after_nonce: int, max_events: int, max_bytes: int) -> ObservedBatch:
        """Events with nonce > after_nonce, contiguous, within both bounds (0 = server cap).

        The byte bound counts each event's serialized size; an event that does not
        fit ends the batch, so a batch may be empty when the first one is too big.
        """
        count_limit = compute_limit(max_events, SERVER_MAX_EVENTS)
        byte_limit = compute_limit(max_bytes, SERVER_MAX_BYTES)
        with self._lock:
            start = max(after_nonce, 0)
            batch: list[pb.events.L1Event] = []
            used = 0
            for index in range(start, min(start + count_limit, len(self._events))):
                if used + self._sizes[index] > byte_limit:
                    break
                used += self._sizes[index]
                batch.append(self._events[index])
            return ObservedBatch(batch, self._confirmed_height, len(self._events))

    def get_last_block(self) -> int:
        """The L1 block of the last confirmed event (0 before any)."""
        with self._lock:
            return int(self._events[-1].l1_block_number) if self._events else 0

    def get_tip(self) -> tuple[int, int]:
        """(confirmed height, last confirmed nonce)."""
        with self._lock:
            return self._confirmed_height, len(self._events)


class RandomnessCache:
    """Confirmed L1 blocks' randomness, served from memory and fetched in the background.

    `get` never touches L1: a height not cached yet is remembered as wanted
    and the watcher loop fetches it (`get_wanted`, `put`). A height is served
    only at or below the confirmed height, so the answer never changes.
    """

    def __init__(self, capacity: int = RANDOMNESS_CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._mix_hashes: dict[int, bytes] = {}
        self._wanted: set[int] = set()

    def get(self, l1_height: int, confirmed_height: int) -> pb.l2.L1Randomness | None:
        if l1_height <= 0 or l1_height > confirmed_height:
            return None
        with self._lock:
            mix_hash = self._mix_hashes.get(l1_height)
            if mix_hash is None:
                if len(self._wanted) < self._capacity:
                    self._wanted.add(l1_height)
                return None
        return pb.l2.L1Randomness(l1_height=l1_height, mix_hash=mix_hash)

    def get_wanted(self) -> list[int]:
        with self._lock:
            return sorted(self._wanted)

    def put(self, l1_height: int, mix_hash: bytes) -> None:
        with self._lock:
            self._wanted.discard(l1_height)
            self._mix_hashes[l1_height] = mix_hash
            while len(self._mix_hashes) > self._capacity:
                del self._mix_hashes[min(self._mix_hashes)]
