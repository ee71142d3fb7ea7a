"""ABCI Query: raw state keys with Merkle proofs, app hashes by height, and the chain's paths.

A query that fails answers the code of its AppError (abci_app.errors) in the
seqset codespace, with a log naming the problem; it never raises.
"""

import logging

from abci_app import chain, pb
from abci_app.chain.query import parse_uint
from abci_app.errors import (
    CODESPACE,
    AppError,
    NotStartedError,
    QueryBadHeightError,
    QueryBadRequestError,
    QueryNotFoundError,
)
from abci_app.store.state_store import StateStore

log = logging.getLogger("seqset.query")

PROOF_OP_TYPE = "seqset:smt"
APP_HASH_BY_HEIGHT = b"apphash/"


def compute_error_response(error: AppError, height: int) -> pb.abci.ResponseQuery:
    return pb.abci.ResponseQuery(code=error.code, codespace=CODESPACE, height=height,
                                 log=error.message)


def answer_query(store: StateStore, req: pb.abci.RequestQuery) -> pb.abci.ResponseQuery:
    height = store.last_height
    if req.height not in (0, height):
        return compute_error_response(QueryBadHeightError(
            f"height: only the latest height {height} is served, asked for {req.height}"), height)
    path = req.path.rstrip("/") or "/"
    if path == "/key":
        return _answer_key(store, bytes(req.data), req.prove, height)
    if path.startswith("/app_hash/"):
        return _answer_app_hash(store, path.removeprefix("/app_hash/"), height)
    if height == 0:  # the chain's records exist only once the first block is committed
        return compute_error_response(NotStartedError(), height)
    result = chain.query(store.overlay(), path, bytes(req.data), height)
    response = pb.abci.ResponseQuery(
        code=result.code, log=result.log, key=result.key, value=result.value, height=height,
        codespace=CODESPACE if result.code else "")
    if req.prove and result.code == 0 and result.key:
        _, proof = store.query(result.key, prove=True)
        response.proof_ops.CopyFrom(_proof_ops(result.key, proof))
    return response


def _answer_key(store: StateStore, key: bytes, prove: bool, height: int) -> pb.abci.ResponseQuery:
    if not key:
        return compute_error_response(
            QueryBadRequestError("data: /key needs the raw state key as data"), height)
    value, proof = store.query(key, prove=prove)
    response = pb.abci.ResponseQuery(key=key, value=value or b"", height=height,
                                     log="exists" if value is not None else "does not exist")
    if prove and proof is not None:
        response.proof_ops.CopyFrom(_proof_ops(key, proof))
    return response


def _answer_app_hash(store: StateStore, text: str, height: int) -> pb.abci.ResponseQuery:
    try:
        asked = parse_uint(text, "height")
    except AppError as exc:
        return compute_error_response(exc, height)
    value = store.local_get(APP_HASH_BY_HEIGHT + asked.to_bytes(8, "big"))
    if value is None:
        return compute_error_response(
            QueryNotFoundError(f"no app hash recorded for height {text}"), height)
    return pb.abci.ResponseQuery(value=value, height=height)


def _proof_ops(key: bytes, proof: bytes | None) -> pb.crypto_proof.ProofOps:
    return pb.crypto_proof.ProofOps(
        ops=[pb.crypto_proof.ProofOp(type=PROOF_OP_TYPE, key=key, data=proof or b"")])
