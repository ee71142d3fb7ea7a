"""An in-memory L1 that can mine, emit Locking events, reorganise and misbehave."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from eth_abi.abi import encode as abi_encode

from abci_app.l1.decode import EVENT_DATA_TYPES, TOPIC0_BY_NAME
from abci_app.l1.source import BlockRef, L1RpcError, L1UnavailableError, RawLog

CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
OTHER_CONTRACT = bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")
CHAIN_ID = 31337


def make_hash(*parts: Any) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def encode_log(name: str, nonce: int, sequencer_id: int, values: tuple[Any, ...],
               block: int, block_hash: bytes, log_index: int,
               address: bytes = CONTRACT) -> RawLog:
    return RawLog(
        address=address,
        topics=(TOPIC0_BY_NAME[name], nonce.to_bytes(32, "big"), sequencer_id.to_bytes(32, "big")),
        data=abi_encode(list(EVENT_DATA_TYPES[name]), list(values)),
        block_number=block, block_hash=block_hash,
        tx_hash=make_hash("tx", block_hash, log_index), log_index=log_index)


def sample_values(name: str, amount: int = 10**18) -> tuple[Any, ...]:
    addr1, addr2 = "0x" + "11" * 20, "0x" + "22" * 20
    return {
        "Locked": (addr1, addr2, b"\x07" * 32, amount),
        "LockIncreased": (amount, 3 * amount),
        "SignerChanged": (addr1, addr2),
        "WithdrawalRequested": (amount, 2 * amount),
        "UnlockInitiated": (amount,),
        "Released": (addr1, amount),
        "RewardsClaimed": (addr2, amount),
        "BatchSettled": (1, b"\x09" * 32),
    }[name]


@dataclass
class Block:
    number: int
    hash: bytes
    parent_hash: bytes
    # (name, sequencer_id, values) in log order; encoded on demand with the block's hash
    events: list[tuple[str, int, int, tuple[Any, ...]]] = field(default_factory=list)


class FakeL1:
    """An L1Source. `fail_next` queues exceptions raised by the next calls, in order."""

    def __init__(self, chain_id: int = CHAIN_ID) -> None:
        self.chain_id = chain_id
        self.salt = 0
        self.blocks = [Block(0, make_hash("genesis"), b"\x00" * 32)]
        self.queued: list[tuple[str, int, tuple[Any, ...]]] = []
        self.finalized: int | None = None
        self.fail_next: list[Exception] = []
        self.hidden_nonces: set[int] = set()  # logs the node "forgets" to return, once each
        self.truncated_nonces: set[int] = set()  # logs returned with malformed data
        self.extra_logs: list[RawLog] = []  # nonsense appended to every eth_getLogs answer
        self.no_state = False  # eth_call fails as on a node without the block's state
        self.head_offset = 0  # added to the reported head (a lagging node when negative)
        self.calls: dict[str, int] = {}
        self.log_ranges: list[tuple[int, int]] = []
        self.before_get_logs: Any = None  # a hook run inside get_logs (a reorg mid-scan)

    # ------------------------------------------------------------ driving the chain

    @property
    def head(self) -> int:
        return self.blocks[-1].number

    @property
    def next_nonce(self) -> int:
        nonces = [e[2] for b in self.blocks for e in b.events]
        return max(nonces, default=0) + 1 + len(self.queued)

    def emit(self, name: str, sequencer_id: int = 1, values: tuple[Any, ...] | None = None) -> int:
        """Queues an event for the next mined block; returns its nonce."""
        nonce = self.next_nonce
        self.queued.append((name, sequencer_id, values or sample_values(name)))
        return nonce

    def mine(self, count: int = 1) -> int:
        """Mines `count` blocks (queued events go in the first); returns the last number."""
        for _ in range(count):
            parent = self.blocks[-1]
            number = parent.number + 1
            block = Block(number, make_hash(number, parent.hash, self.salt), parent.hash)
            first_nonce = self.next_nonce - len(self.queued)
            block.events = [(name, sid, first_nonce + i, values)
                            for i, (name, sid, values) in enumerate(self.queued)]
            self.queued = []
            self.blocks.append(block)
        return self.head

    def reorg(self, depth: int) -> None:
        """Drops the last `depth` blocks; the next mined blocks get new hashes."""
        del self.blocks[len(self.blocks) - depth:]
        self.salt += 1

    # ------------------------------------------------------------ the L1Source surface

    def _enter(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.fail_next:
            raise self.fail_next.pop(0)

    def get_chain_id(self) -> int:
        self._enter("get_chain_id")
        return self.chain_id

    def get_head_number(self) -> int:
        self._enter("get_head_number")
        return self.head + self.head_offset

    def get_finalized_number(self) -> int:
        self._enter("get_finalized_number")
        if self.finalized is None:
            raise L1UnavailableError("no finalized block")
        return self.finalized

    def get_block(self, number: int) -> BlockRef | None:
        self._enter("get_block")
        if not 0 <= number <= self.head:
            return None
        block = self.blocks[number]
        return BlockRef(block.number, block.hash, block.parent_hash)

    def get_logs(self, address: bytes, topics0: list[bytes], from_block: int,
                 to_block: int) -> list[RawLog]:
        self._enter("get_logs")
        self.log_ranges.append((from_block, to_block))
        if self.before_get_logs is not None:
            hook, self.before_get_logs = self.before_get_logs, None
            hook()
        logs = []
        for block in self.blocks[from_block: to_block + 1]:
            for index, (name, sid, nonce, values) in enumerate(block.events):
                if nonce in self.hidden_nonces:
                    self.hidden_nonces.discard(nonce)
                    continue
                raw = encode_log(name, nonce, sid, values, block.number, block.hash, index)
                if nonce in self.truncated_nonces:
                    raw = replace(raw, data=raw.data[:16])
                logs.append(raw)
        return logs + list(self.extra_logs)

    def get_event_nonce(self, address: bytes, block_hash: bytes) -> int:
        self._enter("get_event_nonce")
        if self.no_state:
            raise L1RpcError("missing trie node")
        for block in self.blocks:
            if block.hash == block_hash:
                nonces = [e[2] for b in self.blocks[: block.number + 1] for e in b.events]
                return max(nonces, default=0)
        raise L1RpcError("header not found")

    def get_chain_events(self, up_to: int) -> list[tuple[int, int, bytes]]:
        """(nonce, block, block hash) of every event at or below `up_to` on the current chain."""
        return [(e[2], b.number, b.hash) for b in self.blocks[: up_to + 1] for e in b.events]
