"""What the watcher needs from L1, and a JSON-RPC implementation of it.

`L1Source` is the whole surface: chain id, head, finalized head, block headers
and logs. `JsonRpcSource` speaks plain JSON-RPC over HTTP (urllib, so a timeout
is a timeout and bad JSON is a typed error, not a library's surprise) and
validates every field it returns; anything odd raises an `L1Error` whose
`kind` names the failure for one clear log line.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

HASH_BYTES = 32
ADDRESS_BYTES = 20
EVENT_NONCE_SELECTOR = bytes.fromhex("1c3e6ee6")  # keccak("eventNonce()")[:4], checked by a test


class L1Error(Exception):
    """An L1 call failed or answered nonsense. Never fatal: the watcher backs off and retries."""

    kind = "l1_error"


class L1UnavailableError(L1Error):
    """The node did not answer: connection refused, reset or timed out."""

    kind = "unreachable"


class L1BadResponseError(L1Error):
    """The node answered something that is not a valid JSON-RPC result."""

    kind = "bad_response"


class L1RpcError(L1Error):
    """The node answered with a JSON-RPC error object."""

    kind = "rpc_error"


class L1WrongChainError(L1Error):
    """The node serves a different chain id than the one configured or persisted."""

    kind = "wrong_chain"


class L1InconsistentError(L1Error):
    """The answers contradict each other or what was seen before (a lagging or lying node)."""

    kind = "inconsistent"


class L1ChangedDuringScanError(L1Error):
    """L1 reorganised while a range was being scanned; the scan is discarded and redone."""

    kind = "changed_during_scan"


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: bytes  # 32 bytes
    parent_hash: bytes  # 32 bytes


@dataclass(frozen=True)
class RawLog:
    """A log exactly as L1 returned it, before any ABI decoding."""

    address: bytes  # 20 bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    removed: bool = False


class L1Source(Protocol):
    def get_chain_id(self) -> int: ...

    def get_head_number(self) -> int: ...

    def get_finalized_number(self) -> int: ...

    def get_block(self, number: int) -> BlockRef | None:
        """The canonical block at `number`, or None when L1 has no block there (yet)."""
        ...

    def get_logs(
        self, address: bytes, topics0: list[bytes], from_block: int, to_block: int
    ) -> list[RawLog]: ...

    def get_event_nonce(self, address: bytes, block_hash: bytes) -> int:
        """The contract's `eventNonce()` as of a block (the last nonce emitted up to it)."""
        ...


# ---------------------------------------------------------------- parsing helpers


def parse_quantity(value: Any, field: str) -> int:
    """A JSON-RPC quantity: 0x-prefixed hex without leading zeros (we accept them)."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise L1BadResponseError(f"{field} is not a hex quantity: {value!r:.80}")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise L1BadResponseError(f"{field} is not a hex quantity: {value!r:.80}") from exc


def parse_data(value: Any, field: str, length: int | None = None) -> bytes:
    """0x-prefixed hex bytes, optionally of an exact length."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise L1BadResponseError(f"{field} is not hex data: {value!r:.80}")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise L1BadResponseError(f"{field} is not hex data: {value!r:.80}") from exc
    if length is not None and len(raw) != length:
        raise L1BadResponseError(f"{field} has {len(raw)} bytes, want {length}")
    return raw


def parse_block(value: Any, field: str) -> BlockRef | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise L1BadResponseError(f"{field} is not a block object: {value!r:.80}")
    return BlockRef(
        number=parse_quantity(value.get("number"), f"{field}.number"),
        hash=parse_data(value.get("hash"), f"{field}.hash", HASH_BYTES),
        parent_hash=parse_data(value.get("parentHash"), f"{field}.parentHash", HASH_BYTES),
    )


def parse_log(value: Any) -> RawLog:
    if not isinstance(value, dict):
        raise L1BadResponseError(f"log is not an object: {value!r:.80}")
    topics = value.get("topics")
    if not isinstance(topics, list):
        raise L1BadResponseError(f"log.topics is not a list: {topics!r:.80}")
    removed = value.get("removed", False)
    if not isinstance(removed, bool):
        raise L1BadResponseError(f"log.removed is not a bool: {removed!r:.80}")
    return RawLog(
        address=parse_data(value.get("address"), "log.address", ADDRESS_BYTES),
        topics=tuple(parse_data(t, "log.topic", HASH_BYTES) for t in topics),
        data=parse_data(value.get("data"), "log.data"),
        block_number=parse_quantity(value.get("blockNumber"), "log.blockNumber"),
        block_hash=parse_data(value.get("blockHash"), "log.blockHash", HASH_BYTES),
        tx_hash=parse_data(value.get("transactionHash"), "log.transactionHash", HASH_BYTES),
        log_index=parse_quantity(value.get("logIndex"), "log.logIndex"),
        removed=removed,
    )


# ---------------------------------------------------------------- JSON-RPC over HTTP


class JsonRpcSource:
    """An `L1Source` over an HTTP JSON-RPC endpoint, one request per call."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    def call(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; returns `result` or raises an L1Error naming what went wrong."""
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise L1UnavailableError(f"{method}: HTTP {exc.code} from {self.url}") from exc
        except TimeoutError as exc:
            raise L1UnavailableError(f"{method}: no answer within {self.timeout_s}s") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise L1UnavailableError(f"{method}: cannot reach {self.url}: {exc}") from exc
        return _parse_response(method, raw)

    def get_chain_id(self) -> int:
        return parse_quantity(self.call("eth_chainId", []), "eth_chainId")

    def get_head_number(self) -> int:
        return parse_quantity(self.call("eth_blockNumber", []), "eth_blockNumber")

    def get_finalized_number(self) -> int:
        block = parse_block(self.call("eth_getBlockByNumber", ["finalized", False]), "finalized")
        if block is None:
            raise L1BadResponseError("the node has no 'finalized' block")
        return block.number

    def get_block(self, number: int) -> BlockRef | None:
        block = parse_block(self.call("eth_getBlockByNumber", [hex(number), False]), "block")
        if block is not None and block.number != number:
            raise L1InconsistentError(f"asked for block {number}, got block {block.number}")
        return block

    def get_logs(
        self, address: bytes, topics0: list[bytes], from_block: int, to_block: int
    ) -> list[RawLog]:
        query = {
            "address": "0x" + address.hex(),
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": [["0x" + t.hex() for t in topics0]],
        }
        result = self.call("eth_getLogs", [query])
        if not isinstance(result, list):
            raise L1BadResponseError(f"eth_getLogs result is not a list: {result!r:.80}")
        return [parse_log(item) for item in result]

    def get_event_nonce(self, address: bytes, block_hash: bytes) -> int:
        call = {"to": "0x" + address.hex(), "data": "0x" + EVENT_NONCE_SELECTOR.hex()}
        at = {"blockHash": "0x" + block_hash.hex()}  # EIP-1898: exactly the block we scanned
        word = parse_data(self.call("eth_call", [call, at]), "eventNonce()", 32)
        value = int.from_bytes(word, "big")
        if value >= 2**64:
            raise L1BadResponseError(f"eventNonce() returned {value}, not a uint64")
        return value

    def get_mix_hash(self, number: int) -> bytes | None:
        """Block `number`'s mixHash (its prevRandao since the Merge); None when not mined yet."""
        value = self.call("eth_getBlockByNumber", [hex(number), False])
        if value is None:
            return None
        block = parse_block(value, "block")
        if block is None or block.number != number:
            raise L1InconsistentError(f"asked for block {number}, got another block")
        return parse_data(value.get("mixHash"), "block.mixHash", HASH_BYTES)


def _parse_response(method: str, raw: bytes) -> Any:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise L1BadResponseError(f"{method}: response is not JSON: {raw[:80]!r}") from exc
    if not isinstance(message, dict):
        raise L1BadResponseError(f"{method}: response is not a JSON object: {raw[:80]!r}")
    error = message.get("error")
    if error is not None:
        raise L1RpcError(f"{method}: {json.dumps(error)[:200]}")
    if "result" not in message:
        raise L1BadResponseError(f"{method}: response has no result: {raw[:80]!r}")
    return message["result"]
