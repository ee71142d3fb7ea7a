"""Follows the Locking contract on L1 and keeps a confirmed, gap-free list of its events.

One `poll_once` does, in order:
  1. check the chain id, read the head and the safe (confirmed) height;
  2. `process_reorg`: re-check the hashes of the blocks scanned above the
     confirmed height; on a change roll back to the fork point and drop the
     unconfirmed events above it (a changed *confirmed* block halts the watcher);
  3. scan confirmed blocks in ranges of at most `max_range`, committing each;
  4. scan the unconfirmed blocks above (at most `window` of them), remembering
     every block hash so that step 2 can find a fork point;
  5. `promote` the events now at or below the safe height, after checking that
     everything seen is contiguous in nonce with what was confirmed before.
A nonce gap drops what is unconfirmed and rescans; when the missing nonces may
lie in blocks already confirmed (a node omitted the last log of a range),
`process_backfill` reads those blocks again before the rescan. Never a skip.

A block is confirmed when `head - number >= confirmations` (so with 2, a log
mined in block B counts once B + 2 exists), or when it is at or below L1's
`finalized` block. The confirmed height and nonce never go down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NoReturn

from abci_app import pb
from abci_app.l1.cursor import Cursor, CursorStore
from abci_app.l1.decode import EVENT_TOPICS0, LogDecodeError, decode_log
from abci_app.l1.source import (
    BlockRef,
    L1ChangedDuringScanError,
    L1Error,
    L1InconsistentError,
    L1RpcError,
    L1Source,
    L1WrongChainError,
    RawLog,
)
from abci_app.l1.view import ObservedLog

log = logging.getLogger("seqset.sidecar.watcher")

FINALITY_MODES = ("confirmations", "finalized")
# What a sidecar waits for unless its config says otherwise: safe against ordinary L1 reorgs.
DEFAULT_CONFIRMATIONS = 12
MAX_RANGES_PER_POLL = 20  # a long catch-up yields between polls so a stop is prompt
# eth_call needs the block's state; full nodes keep the recent ones (geth: 128 blocks).
RECENT_STATE_BLOCKS = 64


class NonceGapError(L1Error):
    """The events seen are not contiguous in nonce: logs were missed, so rescan."""

    kind = "nonce_gap"


class WatcherHaltedError(Exception):
    """A block at or below the confirmed height changed: a reorg deeper than our finality."""


@dataclass(frozen=True)
class WatcherConfig:
    contract_address: bytes  # 20 bytes
    start_block: int  # the first block that may hold a Locking log (>= 1)
    confirmations: int = 2
    finality: str = "confirmations"
    max_range: int = 2000  # blocks per eth_getLogs
    window: int = 256  # most unconfirmed blocks scanned and tracked at once
    chain_id: int = 0  # 0: pin the chain id the node first reports


@dataclass(frozen=True)
class PollResult:
    head: int
    confirmed_height: int
    new_events: int
    reorged_blocks: int
    caught_up: bool  # False while a catch-up still has ranges to scan


def compute_safe_height(head: int, confirmations: int) -> int:
    """The highest block with `confirmations` blocks on top of it (-1 when none)."""
    return max(head - confirmations, -1)


def is_contiguous(events: Sequence[pb.events.L1Event], last_nonce: int) -> bool:
    """True when the events carry exactly the nonces last_nonce + 1, + 2, ... in order."""
    return all(event.nonce == last_nonce + 1 + i for i, event in enumerate(events))


class Watcher:
    """The watcher's state and its transitions; L1 and the store are injected."""

    def __init__(
        self, source: L1Source, store: CursorStore, config: WatcherConfig, view: ObservedLog
    ) -> None:
        if config.start_block < 1 or config.confirmations < 0 or config.max_range < 1:
            raise ValueError("start_block >= 1, confirmations >= 0 and max_range >= 1 required")
        if config.finality not in FINALITY_MODES or config.window < 1:
            raise ValueError(f"finality must be one of {FINALITY_MODES} and window >= 1")
        self.source = source
        self.store = store
        self.config = config
        self.view = view
        self.cursor = self._load()
        # Hashes of the confirmed tip and of every scanned block above it.
        self.tracked: dict[int, bytes] = {}
        if self.cursor.confirmed_hash:
            self.tracked[self.cursor.confirmed_height] = self.cursor.confirmed_hash
        self.scanned_to = self.cursor.confirmed_height
        self.pending: list[pb.events.L1Event] = []  # seen above the confirmed height
        self.head = 0
        self.halted = ""
        self.backfill_from: int | None = None  # set by a gap: look below the confirmed height
        self._nonce_check_warned = False
        self._lock = threading.Lock()  # guards `pending` and `scanned_to` for status readers

    def _load(self) -> Cursor:
        cursor, events = self.store.load()
        cfg = self.config
        if cursor is None:
            cursor = Cursor(cfg.chain_id, cfg.contract_address, cfg.start_block - 1, b"", 0)
        if cursor.contract_address != cfg.contract_address:
            raise ValueError(
                f"the sidecar store follows contract 0x{cursor.contract_address.hex()}, "
                f"not 0x{cfg.contract_address.hex()}: use a fresh home")
        if cfg.chain_id and cursor.chain_id and cursor.chain_id != cfg.chain_id:
            raise ValueError(f"the sidecar store follows chain {cursor.chain_id}, "
                             f"not {cfg.chain_id}: use a fresh home")
        self.view.load(cursor.confirmed_height, events)
        if events:
            log.info("resuming at L1 block %d, nonce %d", cursor.confirmed_height,
                     cursor.last_nonce)
        return cursor

    # ------------------------------------------------------------ one poll

    def poll_once(self) -> PollResult:
        """One round of steps 1-5. Raises L1Error (retry later) or WatcherHaltedError."""
        if self.halted:
            raise WatcherHaltedError(self.halted)
        self.check_chain_id()
        head = self.source.get_head_number()
        safe = self.get_safe_height(head)
        self.head = head
        confirmed = self.cursor.confirmed_height
        if safe < confirmed and not self.cursor.confirmed_hash:
            return PollResult(head, confirmed, 0, 0, caught_up=True)  # start not reached
        # A shallow reorg may shorten the chain below our safe height, never below a
        # confirmed block (that is a lagging node, or a reorg we cannot accept).
        if head < confirmed or (safe < confirmed and self.config.finality == "finalized"):
            raise L1InconsistentError(
                f"L1 head {head} (safe height {safe}) is below our confirmed height "
                f"{confirmed}: a lagging or rewound node")
        if confirmed not in self.tracked:
            self.tracked[confirmed] = self._get_existing_block(confirmed).hash
        reorged = self.process_reorg(head)
        new_events = self.process_backfill()
        new_events += self.scan_confirmed(safe)
        caught_up = self.scanned_to >= safe
        if caught_up:
            self.scan_unconfirmed(head)
            new_events += self.promote(safe)
        return PollResult(head, self.cursor.confirmed_height, new_events, reorged, caught_up)

    def check_chain_id(self) -> None:
        chain_id = self.source.get_chain_id()
        expected = self.cursor.chain_id
        if expected and chain_id != expected:
            raise L1WrongChainError(f"the L1 node serves chain {chain_id}, we follow {expected}")
        if not expected:
            self.cursor = replace(self.cursor, chain_id=chain_id)

    def get_safe_height(self, head: int) -> int:
        if self.config.finality == "confirmations":
            return compute_safe_height(head, self.config.confirmations)
        finalized = self.source.get_finalized_number()
        if finalized > head:
            raise L1InconsistentError(f"finalized block {finalized} is above the head {head}")
        return finalized

    def _get_existing_block(self, number: int) -> BlockRef:
        block = self.source.get_block(number)
        if block is None:
            raise L1ChangedDuringScanError(f"L1 has no block {number} although the head is past it")
        return block

    # ------------------------------------------------------------ reorgs

    def process_reorg(self, head: int) -> int:
        """Rolls back to the highest tracked block with an unchanged hash; returns blocks undone."""
        fork = None
        for number in sorted(self.tracked, reverse=True):
            block = self.source.get_block(number) if number <= head else None
            if block is not None and block.hash == self.tracked[number]:
                fork = number
                break
        if fork == self.scanned_to:
            return 0
        confirmed = self.cursor.confirmed_height
        if fork is None:
            self.halt(f"confirmed L1 block {confirmed} changed hash: a reorg deeper than our "
                      f"finality ({self.config.finality}, {self.config.confirmations} blocks)")
        dropped = [e for e in self.pending if e.l1_block_number > fork]
        log.warning("L1 reorg: blocks %d..%d replaced; dropped %d unconfirmed events (nonces %s)",
                    fork + 1, self.scanned_to, len(dropped), [e.nonce for e in dropped])
        reorged = self.scanned_to - fork
        self.rollback_to(fork)
        return reorged

    def rollback_to(self, number: int) -> None:
        """Forgets everything scanned above `number` (never below the confirmed height)."""
        number = max(number, self.cursor.confirmed_height)
        with self._lock:
            self.pending = [e for e in self.pending if e.l1_block_number <= number]
            self.tracked = {n: h for n, h in self.tracked.items() if n <= number}
            self.scanned_to = number

    def halt(self, reason: str) -> NoReturn:
        self.halted = reason
        log.critical("WATCHER HALTED: %s. Still serving the %d confirmed events; an operator "
                     "must investigate L1 before this sidecar can go on.", reason,
                     self.cursor.last_nonce)
        raise WatcherHaltedError(reason)

    # ------------------------------------------------------------ scanning

    def scan_confirmed(self, safe: int) -> int:
        """Scans and commits confirmed ranges (a bounded number per poll); returns the events."""
        new_events, ranges = 0, 0
        while self.scanned_to < safe and ranges < MAX_RANGES_PER_POLL:
            start = self.scanned_to + 1
            self.scan_range(start, min(start + self.config.max_range - 1, safe), every_block=False)
            new_events += self.promote(safe)
            ranges += 1
        return new_events

    def scan_unconfirmed(self, head: int) -> None:
        """Scans the blocks above the confirmed height, up to `window` of them."""
        last = min(head, self.cursor.confirmed_height + self.config.window)
        while self.scanned_to < last:
            start = self.scanned_to + 1
            self.scan_range(start, min(start + self.config.max_range - 1, last), every_block=True)

    def scan_range(self, first: int, last: int, every_block: bool) -> None:
        """Reads the logs of [first, last] against a hash-linked, stable view of L1.

        Raises L1ChangedDuringScanError when the blocks do not extend what we scanned or
        `last` changed while the logs were read; nothing is kept from such a scan.
        """
        numbers = range(first, last + 1) if every_block else sorted({first, last})
        blocks = [self._get_existing_block(n) for n in numbers]
        # Verify the range extends our chain and, block by block, itself
        if blocks[0].parent_hash != self.tracked[first - 1]:
            raise L1ChangedDuringScanError(
                f"block {first} does not extend the block {first - 1} seen")
        pairs = zip(blocks[:-1], blocks[1:], strict=True)
        if every_block and any(child.parent_hash != parent.hash for parent, child in pairs):
            raise L1ChangedDuringScanError(f"blocks {first}..{last} are not one chain")
        logs = self.source.get_logs(self.config.contract_address, EVENT_TOPICS0, first, last)
        # Verify the range did not change under the logs
        if self._get_existing_block(last).hash != blocks[-1].hash:
            raise L1ChangedDuringScanError(f"block {last} changed while its logs were read")
        hashes = {b.number: b.hash for b in blocks}
        events = self.decode_logs(logs, first, last, hashes)
        with self._lock:
            self.tracked.update(hashes if every_block else {last: hashes[last]})
            self.pending.extend(events)
            self.scanned_to = last

    def decode_logs(
        self, logs: Sequence[RawLog], first: int, last: int, hashes: dict[int, bytes]
    ) -> list[pb.events.L1Event]:
        """Decodes a range's logs in L1 order; a malformed one is logged and skipped."""
        positions: set[tuple[int, int]] = set()
        events = []
        for raw in sorted(logs, key=lambda r: (r.block_number, r.log_index)):
            # Verify the node answered the question we asked
            if raw.address != self.config.contract_address:
                raise L1InconsistentError(f"eth_getLogs returned a log of 0x{raw.address.hex()}")
            if raw.removed or not first <= raw.block_number <= last:
                raise L1InconsistentError(f"eth_getLogs returned a removed or out-of-range log "
                                          f"(block {raw.block_number}, range {first}..{last})")
            if hashes.get(raw.block_number, raw.block_hash) != raw.block_hash:
                raise L1ChangedDuringScanError(
                    f"a log of block {raw.block_number} has another hash")
            if (raw.block_number, raw.log_index) in positions:
                raise L1InconsistentError(f"duplicate log at {raw.block_number}/{raw.log_index}")
            positions.add((raw.block_number, raw.log_index))
            try:
                events.append(decode_log(raw))
            except LogDecodeError as exc:
                log.warning("skipping malformed log in block %d (tx 0x%s, index %d): %s",
                            raw.block_number, raw.tx_hash.hex(), raw.log_index, exc)
        return events

    # ------------------------------------------------------------ confirming

    def promote(self, safe: int) -> int:
        """Commits the pending events at or below the safe height; returns how many."""
        # Verify nothing was missed: a gap or a repeat means rescanning, never skipping
        if not is_contiguous(self.pending, self.cursor.last_nonce):
            nonces = [e.nonce for e in self.pending]
            confirmed = self.cursor.confirmed_height
            if nonces[0] > self.cursor.last_nonce + 1:
                # The missing nonces may sit in blocks we already confirmed
                self.backfill_from = self.view.get_last_block() or self.config.start_block
            self.rollback_to(confirmed)
            raise NonceGapError(f"events above block {confirmed} have nonces {nonces[:10]}, want "
                                f"{self.cursor.last_nonce + 1}, ...: rescanning")
        height = min(safe, self.scanned_to)
        if height <= self.cursor.confirmed_height:
            return 0
        ready = [e for e in self.pending if e.l1_block_number <= height]
        self.verify_event_nonce(height, self.cursor.last_nonce + len(ready))
        cursor = replace(self.cursor, confirmed_height=height, confirmed_hash=self.tracked[height],
                         last_nonce=self.cursor.last_nonce + len(ready))
        self.store.commit(cursor, ready)
        self.view.append(height, ready)
        with self._lock:
            self.cursor = cursor
            self.pending = self.pending[len(ready):]
            self.tracked = {n: h for n, h in self.tracked.items() if n >= height}
        for event in ready:
            log.info("confirmed L1 event nonce %d (%s) at block %d", event.nonce,
                     event.WhichOneof("kind"), event.l1_block_number)
        return len(ready)

    def verify_event_nonce(self, height: int, last_nonce: int) -> None:
        """Cross-checks the logs up to `height` against the contract's own eventNonce.

        This catches a node that omits the *last* logs of a range, which no later
        event has yet exposed as a gap. Skipped for old blocks during a catch-up,
        and when the node cannot serve the state (contiguity still guards those).
        """
        if self.head - height > RECENT_STATE_BLOCKS:
            return
        try:
            on_chain = self.source.get_event_nonce(self.config.contract_address,
                                                   self.tracked[height])
        except L1RpcError as exc:
            if not self._nonce_check_warned:
                log.warning("cannot cross-check eventNonce() with eth_call (%s); relying on "
                            "nonce contiguity alone", exc)
                self._nonce_check_warned = True
            return
        if on_chain == last_nonce:
            return
        confirmed = self.cursor.confirmed_height
        if on_chain > last_nonce:
            self.backfill_from = self.view.get_last_block() or self.config.start_block
        self.rollback_to(confirmed)
        message = (f"eventNonce() at block {height} is {on_chain} but the logs up to it end "
                   f"at nonce {last_nonce}: rescanning")
        raise NonceGapError(message) if on_chain > last_nonce else L1InconsistentError(message)

    def process_backfill(self) -> int:
        """After a gap, finds missed events in confirmed blocks; returns how many it added.

        The missing nonces lie after the last confirmed event, so the blocks from
        its block up to the confirmed height are read again. Events found there
        extend the confirmed list (the confirmed height does not move); if none
        are, they lie above it and the ordinary rescan finds them.
        """
        confirmed, last_nonce = self.cursor.confirmed_height, self.cursor.last_nonce
        if self.backfill_from is None or self.backfill_from > confirmed:
            self.backfill_from = None
            return 0
        found: list[pb.events.L1Event] = []
        for first in range(self.backfill_from, confirmed + 1, self.config.max_range):
            last = min(first + self.config.max_range - 1, confirmed)
            logs = self.source.get_logs(self.config.contract_address, EVENT_TOPICS0, first, last)
            found += [e for e in self.decode_logs(logs, first, last, {}) if e.nonce > last_nonce]
        # Verify the confirmed blocks read are still the ones we confirmed
        if self._get_existing_block(confirmed).hash != self.tracked[confirmed]:
            self.halt(f"confirmed L1 block {confirmed} changed hash during a backfill")
        if not is_contiguous(found, last_nonce):
            raise NonceGapError(
                f"backfill of blocks {self.backfill_from}..{confirmed} found nonces "
                f"{[e.nonce for e in found][:10]}, want {last_nonce + 1}, ...")
        self.backfill_from = None
        if found:
            cursor = replace(self.cursor, last_nonce=last_nonce + len(found))
            self.store.commit(cursor, found)
            self.view.append(confirmed, found)
            self.cursor = cursor
            log.warning("backfilled %d missed L1 events (nonces %d..%d) at or below block %d",
                        len(found), found[0].nonce, found[-1].nonce, confirmed)
        return len(found)

    # ------------------------------------------------------------ for status readers

    def get_progress(self) -> tuple[int, int]:
        """(scanned height, pending event count), consistent with each other."""
        with self._lock:
            return self.scanned_to, len(self.pending)
