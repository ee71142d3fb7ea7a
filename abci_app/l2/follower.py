"""Follows the L2 node and keeps its recent headers in memory for the sidecar's Observed.

The L2 is not final: its node may replace blocks (a reorg) or roll back. The
follower keeps one contiguous, parent-linked run of blocks `[low, tip]` and,
on each `poll_once`:
  1. checks the chain id (pinned on first sight, or the configured one);
  2. `process_reorg`: drops every kept block the node no longer has with the
     same hash (from the tip down), so nothing replaced is ever served;
  3. moves the window: `low` is the lowest height a caller asked for (the
     chain's attested L2 height + 1), or the last `keep` blocks before any ask;
  4. fetches forward from the tip, each block linking to the one before it
     (a block that does not link means the node reorganised mid-fetch: the
     tip is dropped and the next poll re-checks).
Reads (`get_headers_after`) take a lock and touch no RPC, so an answer takes
microseconds whatever the L2 node is doing.
"""

from __future__ import annotations

import logging
import threading

from abci_app import pb
from abci_app.l1.source import L1WrongChainError
from abci_app.l2.source import L2Block, L2Source

log = logging.getLogger("seqset.sidecar.l2")

DEFAULT_KEEP = 4096  # headers kept in memory (the chain asks from its attested height)
MAX_FETCH_PER_POLL = 256  # a long catch-up yields between polls so a stop is prompt
SERVER_MAX_L2_HEADERS = 10_000  # per Observed answer, whatever the caller asks


class L2Follower:
    def __init__(self, source: L2Source, keep: int = DEFAULT_KEEP, chain_id: int = 0,
                 max_fetch: int = MAX_FETCH_PER_POLL) -> None:
        if keep < 1 or max_fetch < 1:
            raise ValueError("keep >= 1 and max_fetch >= 1 required")
        self.source = source
        self.keep = keep
        self.chain_id = chain_id  # 0: pin the first one the node reports
        self.max_fetch = max_fetch
        self.head = 0  # the node's head number at the last poll
        self._blocks: list[L2Block] = []  # contiguous and linked, ascending
        self._wanted_from: int | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ one poll

    def poll_once(self) -> bool:
        """One round of steps 1-4; True when caught up. Raises L1Error (retry later)."""
        self.check_chain_id()
        head = self.source.get_head_number()
        self.head = head
        self.process_reorg(head)
        low = self.get_window_low(head)
        last = min(head, low + self.keep - 1)
        self.prune(low)
        fetched = 0
        while fetched < self.max_fetch:
            tip = self.get_tip()
            following = tip.height + 1 if tip is not None else low
            if following > last:
                return True
            block = self.source.get_block(following)
            if block is None:
                return False  # the node's head moved back; the next poll re-checks
            # Verify the block extends what we keep
            if tip is not None and block.parent_hash != tip.hash:
                log.warning("L2 block %d does not link to the kept block %d: the L2 "
                            "reorganised during the fetch", block.height, tip.height)
                self.drop_above(tip.height - 1)
                return False
            with self._lock:
                self._blocks.append(block)
            fetched += 1
        return False

    def check_chain_id(self) -> None:
        chain_id = self.source.get_chain_id()
        if self.chain_id and chain_id != self.chain_id:
            raise L1WrongChainError(f"the L2 node serves chain {chain_id}, we follow "
                                    f"{self.chain_id}")
        if not self.chain_id:
            self.chain_id = chain_id

    def process_reorg(self, head: int) -> int:
        """Drops the kept blocks the node replaced or no longer has; returns how many."""
        dropped = 0
        while True:
            tip = self.get_tip()
            if tip is None:
                return dropped
            current = self.source.get_block(tip.height) if tip.height <= head else None
            if current is not None and current.hash == tip.hash:
                if dropped:
                    log.warning("L2 reorg: dropped %d headers above L2 block %d",
                                dropped, tip.height)
                return dropped
            self.drop_above(tip.height - 1)
            dropped += 1

    def get_window_low(self, head: int) -> int:
        with self._lock:
            wanted = self._wanted_from
        return wanted if wanted is not None else max(1, head - self.keep + 1)

    def prune(self, low: int) -> None:
        """Keeps only blocks from `low`; restarts from `low` when it lies below what is kept."""
        with self._lock:
            if self._blocks and self._blocks[0].height > low:
                self._blocks = []
            self._blocks = [b for b in self._blocks if b.height >= low]

    def drop_above(self, height: int) -> None:
        with self._lock:
            self._blocks = [b for b in self._blocks if b.height <= height]

    # ------------------------------------------------------------ for readers

    def get_tip(self) -> L2Block | None:
        with self._lock:
            return self._blocks[-1] if self._blocks else None

    def get_headers_after(self, after_height: int, max_headers: int) -> list[pb.l2.L2Header]:
        """Up to `max_headers` kept headers from `after_height + 1`, contiguous and linked.

        Also records `after_height + 1` as the lowest height wanted, so the
        next polls keep (or fetch) the headers from there.
        """
        with self._lock:
            self._wanted_from = after_height + 1
            if max_headers <= 0 or not self._blocks:
                return []
            start = after_height + 1 - self._blocks[0].height
            if start < 0 or start >= len(self._blocks):
                return []
            count = min(max_headers, SERVER_MAX_L2_HEADERS)
            return [b.to_header() for b in self._blocks[start:start + count]]

    def get_kept_range(self) -> tuple[int, int]:
        """(lowest, highest) kept height; (0, 0) when none."""
        with self._lock:
            if not self._blocks:
                return 0, 0
            return self._blocks[0].height, self._blocks[-1].height

