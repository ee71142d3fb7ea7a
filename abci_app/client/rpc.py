"""A CometBFT node's HTTP RPC, as the operator tools read it.

`NodeRpc` is the one client for every tool that talks to a node from outside
(the CLI, the dashboard, the sequencer agent, the relayer): JSON-RPC over HTTP GET,
a timeout on every call, and one exception type per failure kind so that each
command can print one line naming the problem.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from google.protobuf.message import DecodeError, Message

from abci_app.chain.query import decode_query_value
from abci_app.errors import QueryNotFoundError

DEFAULT_NODE_RPC = "http://127.0.0.1:26657"  # CometBFT's default [rpc] laddr


class ChainReadError(Exception):
    """The node did not answer, or answered something that is not a query result."""


class QueryRejectedError(ChainReadError):
    """The chain answered the query with an error code (e.g. not scheduled yet)."""

    def __init__(self, message: str, code: int = 0, log: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.log = log


class NodeRpc:
    """Reads a node over CometBFT's HTTP RPC."""

    def __init__(self, node_rpc_url: str, timeout_s: float = 3.0) -> None:
        self.url = node_rpc_url.rstrip("/")
        self.timeout_s = timeout_s

    def call(self, method: str, **params: str) -> dict[str, Any]:
        """The `result` of one RPC call; ChainReadError on no answer or an RPC error.
        String params are passed as CometBFT's URI form expects (quote them yourself)."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/{method}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = _error_body(exc)
            if body is None:
                raise ChainReadError(f"{method} at {self.url}: HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise ChainReadError(f"node {self.url} did not answer: {describe_failure(exc)}"
                                 ) from exc
        if not isinstance(body, dict):
            raise ChainReadError(f"{method} at {self.url}: the answer is not a JSON object")
        if "error" in body:
            error = body["error"]
            detail = error.get("data") or error.get("message") if isinstance(error, dict) else error
            raise ChainReadError(f"{method} at {self.url}: {str(detail)[:200]}")
        result = body.get("result")
        if not isinstance(result, dict):
            raise ChainReadError(f"{method} at {self.url}: no result")
        return result

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def abci_query(self, path: str, data: bytes = b"", height: int = 0,
                   prove: bool = False) -> dict[str, Any]:
        """The raw `response` object of abci_query (code, log, value, proofOps, height)."""
        params = {"path": f'"{path}"'}
        if data:
            params["data"] = "0x" + data.hex()
        if height:
            params["height"] = str(height)
        if prove:
            params["prove"] = "true"
        return get_query_response(path, {"result": self.call("abci_query", **params)})

    def query(self, path: str, data: bytes = b"", height: int = 0) -> Message:
        """The query.proto answer of `path`; QueryRejectedError on a non-zero code."""
        return decode_query_response(path, self.abci_query(path, data, height))

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        """CheckTx's answer: code, log, codespace and the tx hash (hex)."""
        return self.call("broadcast_tx_sync", tx="0x" + tx.hex())

    def get_tx(self, tx_hash: str) -> dict[str, Any] | None:
        """The included tx (height, tx_result) or None while it is not in a block."""
        try:
            return self.call("tx", hash="0x" + tx_hash)
        except ChainReadError as exc:
            if "not found" in str(exc):
                return None
            raise

    def query_optional(self, path: str) -> Any:  # the route's answer type, or None
        """The answer of `path`, or None when the chain says there is none (not found)."""
        try:
            return self.query(path)
        except QueryRejectedError as exc:
            if exc.code == QueryNotFoundError.code:
                return None
            raise


def describe_failure(exc: BaseException) -> str:
    """`connection refused`, `timed out`...: the root cause of a failed call, in words."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, OSError) and reason.strerror:
        return str(reason.strerror).lower()
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    return str(reason) or type(reason).__name__


def _error_body(exc: urllib.error.HTTPError) -> Any:
    """CometBFT answers some RPC errors with HTTP 500 and a JSON-RPC error body."""
    try:
        return json.loads(exc.read())
    except (OSError, ValueError):
        return None


def get_query_response(path: str, body: Any) -> dict[str, Any]:
    """`result.response` of an abci_query JSON body, or ChainReadError naming what is wrong."""
    if not isinstance(body, dict):
        raise ChainReadError(f"abci_query {path}: the answer is not a JSON object")
    if "error" in body:
        raise ChainReadError(f"abci_query {path}: {str(body['error'])[:200]}")
    response = (body.get("result") or {}).get("response") if isinstance(
        body.get("result"), dict) else None
    if not isinstance(response, dict):
        raise ChainReadError(f"abci_query {path}: no result.response")
    return response


def decode_query_response(path: str, response: dict[str, Any]) -> Message:
    code = response.get("code", 0)
    if code not in (0, None):
        detail = str(response.get("log"))[:200]
        raise QueryRejectedError(f"abci_query {path}: code {code}: {detail}",
                                 code=int(code) if isinstance(code, int) else -1, log=detail)
    value = response.get("value") or ""
    try:
        return decode_query_value(path, base64.b64decode(value, validate=True))
    except (ValueError, TypeError, DecodeError) as exc:
        raise ChainReadError(f"abci_query {path}: undecodable value: {exc}") from exc


def parse_query_body(path: str, body: Any) -> Message:
    """The decoded answer from an abci_query JSON body, or ChainReadError naming what is wrong."""
    return decode_query_response(path, get_query_response(path, body))
