"""An in-memory L2 node: mines with a coinbase, reorganises, rolls back, fails on demand."""

from __future__ import annotations

import hashlib
from typing import Any

from abci_app.l2.source import L2Block

L2_CHAIN_ID = 901
GENESIS_HASH = hashlib.sha256(b"l2 genesis").digest()


def make_hash(*parts: Any) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


class FakeL2:
    """An L2Source and an L2Producer. `fail_next` queues exceptions for the next calls."""

    def __init__(self, chain_id: int = L2_CHAIN_ID, now: float = 1_000_000.0) -> None:
        self.chain_id = chain_id
        self.blocks = [L2Block(0, GENESIS_HASH, b"\x00" * 32, b"\x00" * 20, int(now))]
        self.fail_next: list[Exception] = []
        self.calls = 0
        self.forks = 0
        self.now = now
        self.pending_txs: list[str] = []
        self.included: dict[str, int] = {}

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)

    # L2Source
    def get_chain_id(self) -> int:
        self._maybe_fail()
        return self.chain_id

    def get_head_number(self) -> int:
        self._maybe_fail()
        return self.blocks[-1].height

    def get_block(self, number: int) -> L2Block | None:
        self._maybe_fail()
        return self.blocks[number] if 0 <= number < len(self.blocks) else None

    # L2Producer
    def get_head(self) -> L2Block:
        self._maybe_fail()
        return self.blocks[-1]

    def produce_block(self, coinbase: bytes) -> None:
        self._maybe_fail()
        self.mine(coinbase=coinbase)

    # test controls
    def mine(self, count: int = 1, coinbase: bytes = b"\x11" * 20) -> None:
        for _ in range(count):
            parent = self.blocks[-1]
            height = parent.height + 1
            self.blocks.append(L2Block(height, make_hash(height, self.forks, parent.hash),
                                       parent.hash, coinbase, int(self.now)))
            for tx in self.pending_txs:
                self.included[tx] = height
            self.pending_txs = []

    def reorg(self, depth: int) -> None:
        """Replaces the last `depth` blocks with others of the same heights."""
        self.forks += 1
        count = min(depth, len(self.blocks) - 1)
        del self.blocks[len(self.blocks) - count:]
        self.mine(count)

    def rollback(self, depth: int) -> None:
        del self.blocks[len(self.blocks) - depth:]
