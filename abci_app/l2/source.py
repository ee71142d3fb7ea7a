"""What the sidecar and the agent read from an L2 node, over Ethereum JSON-RPC.

`L2Block` is one block as the node reports it; `L2JsonRpc` validates every
field (bad answers raise an `L1Error` subclass naming the failure: the L2
speaks the same JSON-RPC, so it shares the L1 error kinds and transport).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from abci_app import pb
from abci_app.l1.source import (
    ADDRESS_BYTES,
    HASH_BYTES,
    JsonRpcSource,
    L1BadResponseError,
    L1InconsistentError,
    parse_data,
    parse_quantity,
)


@dataclass(frozen=True)
class L2Block:
    height: int
    hash: bytes  # 32 bytes
    parent_hash: bytes  # 32 bytes
    producer: bytes  # 20 bytes: the block's coinbase (miner)
    timestamp_s: int

    def to_header(self) -> pb.l2.L2Header:
        return pb.l2.L2Header(height=self.height, hash=self.hash, parent_hash=self.parent_hash,
                              producer=self.producer)


class L2Source(Protocol):
    def get_chain_id(self) -> int: ...

    def get_head_number(self) -> int: ...

    def get_block(self, number: int) -> L2Block | None:
        """The canonical block at `number`, or None when the node has none there (yet)."""
        ...


def parse_l2_block(value: Any, field: str) -> L2Block | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise L1BadResponseError(f"{field} is not a block object: {value!r:.80}")
    return L2Block(
        height=parse_quantity(value.get("number"), f"{field}.number"),
        hash=parse_data(value.get("hash"), f"{field}.hash", HASH_BYTES),
        parent_hash=parse_data(value.get("parentHash"), f"{field}.parentHash", HASH_BYTES),
        producer=parse_data(value.get("miner"), f"{field}.miner", ADDRESS_BYTES),
        timestamp_s=parse_quantity(value.get("timestamp"), f"{field}.timestamp"),
    )


class L2JsonRpc:
    """An `L2Source` over an HTTP JSON-RPC endpoint, one request per call."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.rpc = JsonRpcSource(url, timeout_s)

    def call(self, method: str, params: list[Any]) -> Any:
        return self.rpc.call(method, params)

    def get_chain_id(self) -> int:
        return parse_quantity(self.call("eth_chainId", []), "eth_chainId")

    def get_head_number(self) -> int:
        return parse_quantity(self.call("eth_blockNumber", []), "eth_blockNumber")

    def get_block(self, number: int) -> L2Block | None:
        block = parse_l2_block(self.call("eth_getBlockByNumber", [hex(number), False]), "block")
        if block is not None and block.height != number:
            raise L1InconsistentError(f"asked for L2 block {number}, got block {block.height}")
        return block
