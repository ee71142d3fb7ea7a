"""`--prove`: an abci_query answer checked against a light-client-verified app hash.

The answer at height H is committed in header H+1's app_hash. A route's answer is
built by its handler (chain/query.py) from the records it reads, so the answer
is proven by reading each of those records through /key with a Merkle proof at
the same height, running the same handler over them, and requiring the very
bytes the node answered; then every proof is checked against the app hash of
header H+1, which abci_app/client/light.py verifies. Answers that scan a range
of records (lists, pages) cannot be proven this way and are refused.

The node serves only its latest height, so all reads happen while H is the
latest; if the chain moves on in between, the whole read is retried.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from abci_app.chain.query import compute_request, find_route
from abci_app.client.light import TrustRoot, verify_header_at
from abci_app.client.rpc import NodeRpc, decode_query_response
from abci_app.errors import AppError, QueryBadHeightError
from abci_app.handlers.queries import PROOF_OP_TYPE
from abci_app.store.proof import verify_proof

READ_ATTEMPTS = 5
NEXT_HEADER_WAIT_S = 15.0


class ProofError(Exception):
    """The answer could not be proven (the message says why)."""


class _ChainMovedError(Exception):
    """The node's latest height changed between two reads of one answer."""


@dataclass
class ProvenRead:
    value: bytes | None
    proof: bytes


@dataclass
class ProvingKV:
    """A read-only KVStore over /key at one height, keeping every value and its proof."""

    rpc: NodeRpc
    height: int
    reads: dict[bytes, ProvenRead] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        if key not in self.reads:
            self.reads[key] = self._read(key)
        return self.reads[key].value

    def _read(self, key: bytes) -> ProvenRead:
        response = self.rpc.abci_query("/key", key, height=self.height, prove=True)
        if response.get("code") == QueryBadHeightError.code:
            raise _ChainMovedError(str(response.get("log")))
        if response.get("code"):
            raise ProofError(f"/key 0x{key.hex()}: code {response.get('code')}: "
                             f"{response.get('log')}")
        if int(response.get("height", 0)) != self.height:
            raise _ChainMovedError(f"/key answered at {response.get('height')}")
        raw = base64.b64decode(response.get("value") or "")
        value = raw if response.get("log") == "exists" else None
        return ProvenRead(value, get_proof_bytes(response, key))

    def set(self, key: bytes, value: bytes) -> None:
        raise ProofError("a query handler wrote to state")

    def delete(self, key: bytes) -> None:
        raise ProofError("a query handler wrote to state")

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        raise ProofError("this answer reads a range of records; only answers built from "
                         "single records can be proven")


def get_proof_bytes(response: dict[str, Any], key: bytes) -> bytes:
    """The seqset:smt proof op of an abci_query response for `key`."""
    proof_ops = response.get("proofOps")
    ops = proof_ops.get("ops") if isinstance(proof_ops, dict) else None
    if not isinstance(ops, list) or len(ops) != 1 or not isinstance(ops[0], dict):
        raise ProofError(f"no {PROOF_OP_TYPE} proof in the answer")
    op = ops[0]
    if op.get("type") != PROOF_OP_TYPE or base64.b64decode(op.get("key") or "") != key:
        raise ProofError(f"the proof op is {op.get('type')!r} for another key")
    return base64.b64decode(op.get("data") or "")


def get_next_header_app_hash(rpc: NodeRpc, height: int, trust: TrustRoot | None) -> bytes:
    """The verified app_hash of header height + 1, waiting for that block if needed."""
    deadline = time.monotonic() + NEXT_HEADER_WAIT_S
    while int(rpc.status()["sync_info"]["latest_block_height"]) <= height:
        if time.monotonic() > deadline:
            raise ProofError(f"block {height + 1} (whose header commits this answer) did not come")
        time.sleep(0.1)
    header = verify_header_at(rpc.call, height + 1, trust)
    return bytes.fromhex(str(header["app_hash"]))


def read_answer(rpc: NodeRpc, path: str, data: bytes, height: int
                ) -> tuple[Message, int, ProvingKV]:
    """The node's answer, and the records its handler reads, all at one height."""
    response = rpc.abci_query(path, data, height=height, prove=True)
    if response.get("code") == QueryBadHeightError.code and not height:
        raise _ChainMovedError(str(response.get("log")))
    answer = decode_query_response(path, response)
    at = int(response.get("height", 0))
    # Verify the answer is at the height asked (a node could answer from an older state)
    if at < 1 or (height and at != height):
        raise ProofError(f"asked at height {height or 'latest'}, the node answered at {at}")
    key = base64.b64decode(str(response.get("key") or ""))
    if not key:
        raise ProofError(f"/{path.strip('/')}: this answer is built from many records and "
                         f"carries no proof")
    route, args = find_route(path)
    kv = ProvingKV(rpc, at)
    try:
        recomputed = route.handler(kv, compute_request(route, args, data))[0]
    except AppError as exc:
        raise ProofError(f"the proven records do not give this answer: {exc.message}") from exc
    kv.get(key)
    if get_proof_bytes(response, key) != kv.reads[key].proof:
        raise ProofError("the answer's proof is not the proof of its record")
    if recomputed.SerializeToString(deterministic=True) != answer.SerializeToString(
            deterministic=True):
        raise ProofError("the answer does not follow from the proven records")
    return answer, at, kv


def prove_query(rpc: NodeRpc, path: str, data: bytes = b"", height: int = 0,
                trust: TrustRoot | None = None) -> tuple[Message, int]:
    """The answer of `path` and its height, with every record it rests on proven."""
    for _ in range(READ_ATTEMPTS):
        try:
            answer, at, kv = read_answer(rpc, path, data, height)
            break
        except _ChainMovedError:
            if height:
                raise ProofError(f"height {height} is no longer the node's latest") from None
    else:
        raise ProofError(f"the chain moved on during each of {READ_ATTEMPTS} reads")
    app_hash = get_next_header_app_hash(rpc, at, trust)
    verify_reads(app_hash, kv.reads)
    return answer, at


def verify_reads(app_hash: bytes, reads: dict[bytes, ProvenRead]) -> None:
    for key, read in reads.items():
        if not verify_proof(app_hash, key, read.value, read.proof):
            raise ProofError(f"bad proof: key 0x{key.hex()} does not verify against app hash "
                             f"{app_hash.hex().upper()}")
