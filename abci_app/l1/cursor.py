"""The sidecar's local store: its cursor and the confirmed events, written atomically.

One commit writes the new confirmed events and the cursor that covers them in
a single LevelDB batch (synced), so a crash leaves either both or neither and a
restart resumes with no gap and no duplicate. This store is local to one
sidecar and is not consensus state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import plyvel

from abci_app import pb

# pb puts _gen on sys.path; until pb exports `sidecar`, import it by name here.
sidecar_pb: Any = pb.sidecar

CURSOR_KEY = b"cursor"
EVENT_PREFIX = b"event/"


class StoreError(Exception):
    """The sidecar store is unreadable, inconsistent, or belongs to another chain/contract."""


@dataclass(frozen=True)
class Cursor:
    chain_id: int
    contract_address: bytes  # 20 bytes
    confirmed_height: int  # the last confirmed block scanned
    confirmed_hash: bytes  # its hash; b"" before the first scan
    last_nonce: int  # the last confirmed nonce; 0 before any event


def compute_event_key(nonce: int) -> bytes:
    """Big-endian so that LevelDB's byte order is nonce order."""
    return EVENT_PREFIX + nonce.to_bytes(8, "big")


def encode_cursor(cursor: Cursor) -> bytes:
    return bytes(sidecar_pb.SidecarCursor(
        chain_id=cursor.chain_id, contract_address=cursor.contract_address,
        confirmed_height=cursor.confirmed_height, confirmed_hash=cursor.confirmed_hash,
        last_nonce=cursor.last_nonce,
    ).SerializeToString(deterministic=True))  # fmt: skip


def decode_cursor(raw: bytes) -> Cursor:
    message = sidecar_pb.SidecarCursor.FromString(raw)
    return Cursor(
        chain_id=message.chain_id, contract_address=bytes(message.contract_address),
        confirmed_height=message.confirmed_height, confirmed_hash=bytes(message.confirmed_hash),
        last_nonce=message.last_nonce,
    )  # fmt: skip


def validate_loaded(cursor: Cursor | None, events: Sequence[pb.events.L1Event]) -> None:
    """Raises StoreError unless the events are exactly nonces 1..last_nonce, all confirmed."""
    if cursor is None:
        if events:
            raise StoreError(f"store has {len(events)} events but no cursor")
        return
    # Verify contiguity from 1 and agreement with the cursor
    for index, event in enumerate(events):
        if event.nonce != index + 1:
            raise StoreError(f"store event #{index + 1} has nonce {event.nonce}")
        if event.l1_block_number > cursor.confirmed_height:
            raise StoreError(f"store event {event.nonce} lies above the confirmed height")
    if len(events) != cursor.last_nonce:
        raise StoreError(f"store holds {len(events)} events, cursor says {cursor.last_nonce}")


class CursorStore(Protocol):
    def load(self) -> tuple[Cursor | None, list[pb.events.L1Event]]: ...

    def commit(self, cursor: Cursor, new_events: Sequence[pb.events.L1Event]) -> None:
        """Appends `new_events` and replaces the cursor, atomically."""
        ...

    def close(self) -> None: ...


class MemoryCursorStore:
    """A CursorStore in memory, for tests; survives a Watcher being rebuilt on it."""

    def __init__(self) -> None:
        self.cursor: Cursor | None = None
        self.events: list[bytes] = []
        self.commits = 0

    def load(self) -> tuple[Cursor | None, list[pb.events.L1Event]]:
        events = [pb.events.L1Event.FromString(raw) for raw in self.events]
        validate_loaded(self.cursor, events)
        return self.cursor, events

    def commit(self, cursor: Cursor, new_events: Sequence[pb.events.L1Event]) -> None:
        self.events.extend(e.SerializeToString(deterministic=True) for e in new_events)
        self.cursor = cursor
        self.commits += 1

    def close(self) -> None:
        return None


class LevelCursorStore:
    """A CursorStore in a LevelDB folder (e.g. <home>/data/sidecar.db)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as exc:
            raise StoreError(f"cannot open sidecar store {path}: {exc}") from exc
        self.path = path

    def load(self) -> tuple[Cursor | None, list[pb.events.L1Event]]:
        raw_cursor = self._db.get(CURSOR_KEY)
        try:
            cursor = decode_cursor(raw_cursor) if raw_cursor is not None else None
            events = [
                pb.events.L1Event.FromString(value)
                for _, value in self._db.iterator(prefix=EVENT_PREFIX)
            ]
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise StoreError(f"sidecar store {self.path} does not decode: {exc}") from exc
        validate_loaded(cursor, events)
        return cursor, events

    def commit(self, cursor: Cursor, new_events: Sequence[pb.events.L1Event]) -> None:
        with self._db.write_batch(sync=True) as batch:
            for event in new_events:
                raw = event.SerializeToString(deterministic=True)
                batch.put(compute_event_key(event.nonce), raw)
            batch.put(CURSOR_KEY, encode_cursor(cursor))

    def close(self) -> None:
        self._db.close()
