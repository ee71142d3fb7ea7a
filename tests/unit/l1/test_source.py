"""JsonRpcSource against a scripted HTTP server: every kind of bad answer is a typed L1Error."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from abci_app.devnet.ports import free_port
from abci_app.l1.source import (
    JsonRpcSource,
    L1BadResponseError,
    L1InconsistentError,
    L1RpcError,
    L1UnavailableError,
)

Responder = Callable[[dict[str, Any]], bytes]
HASH = "0x" + "ab" * 32


class ScriptedServer:
    """Answers each JSON-RPC request with `responder(request)`; `hang` stalls answers."""

    def __init__(self) -> None:
        self.responder: Responder = lambda request: b"{}"
        self.hang = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.hang.is_set():
                    outer.release.wait(10)
                body = outer.responder(request)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def answer(self, result: Any) -> None:
        self.responder = lambda request: json.dumps(
            {"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def test_quantities_blocks_and_logs_parse(server: ScriptedServer) -> None:
    source = JsonRpcSource(server.url)
    server.answer("0x7a69")
    assert source.get_chain_id() == 31337
    server.answer({"number": "0x10", "hash": HASH, "parentHash": "0x" + "cd" * 32})
    block = source.get_block(16)
    assert block is not None and block.number == 16 and block.hash == bytes.fromhex("ab" * 32)
    server.answer([{
        "address": "0x" + "11" * 20, "topics": [HASH], "data": "0x", "blockNumber": "0x10",
        "blockHash": HASH, "transactionHash": HASH, "logIndex": "0x2", "removed": False}])
    (log,) = source.get_logs(b"\x11" * 20, [bytes(32)], 1, 16)
    assert (log.block_number, log.log_index, log.address) == (16, 2, b"\x11" * 20)


def test_missing_block_is_none(server: ScriptedServer) -> None:
    server.answer(None)
    assert JsonRpcSource(server.url).get_block(99) is None


def test_invalid_non_json_answer_is_a_bad_response(server: ScriptedServer) -> None:
    server.responder = lambda request: b"<html>502 bad gateway</html>"
    with pytest.raises(L1BadResponseError, match="not JSON"):
        JsonRpcSource(server.url).get_head_number()


def test_invalid_json_rpc_error_is_an_rpc_error(server: ScriptedServer) -> None:
    server.responder = lambda request: json.dumps(
        {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": "limit"}}
    ).encode()
    with pytest.raises(L1RpcError, match="limit"):
        JsonRpcSource(server.url).get_logs(b"\x11" * 20, [], 1, 2)


@pytest.mark.parametrize("result", ["12", "0x", "0xzz", 12, None, ["0x1"]])
def test_invalid_head_number_is_a_bad_response(server: ScriptedServer, result: Any) -> None:
    server.answer(result)
    with pytest.raises(L1BadResponseError):
        JsonRpcSource(server.url).get_head_number()


def test_invalid_block_hash_length_is_a_bad_response(server: ScriptedServer) -> None:
    server.answer({"number": "0x1", "hash": "0xabcd", "parentHash": HASH})
    with pytest.raises(L1BadResponseError, match="hash"):
        JsonRpcSource(server.url).get_block(1)


def test_invalid_block_of_another_number_is_inconsistent(server: ScriptedServer) -> None:
    server.answer({"number": "0x2", "hash": HASH, "parentHash": HASH})
    with pytest.raises(L1InconsistentError):
        JsonRpcSource(server.url).get_block(1)


def test_invalid_log_list_is_a_bad_response(server: ScriptedServer) -> None:
    server.answer({"not": "a list"})
    with pytest.raises(L1BadResponseError):
        JsonRpcSource(server.url).get_logs(b"\x11" * 20, [], 1, 2)
    server.answer([{"address": "0x11", "topics": []}])
    with pytest.raises(L1BadResponseError):
        JsonRpcSource(server.url).get_logs(b"\x11" * 20, [], 1, 2)


def test_slow_node_times_out_as_unavailable(server: ScriptedServer) -> None:
    server.answer("0x1")
    server.hang.set()
    with pytest.raises(L1UnavailableError):
        JsonRpcSource(server.url, timeout_s=0.2).get_head_number()


def test_node_that_is_down_is_unavailable() -> None:
    with pytest.raises(L1UnavailableError, match="cannot reach"):
        JsonRpcSource(f"http://127.0.0.1:{free_port()}", timeout_s=1).get_chain_id()


def test_event_nonce_selector_is_the_contracts_getter() -> None:
    from eth_utils.crypto import keccak

    from abci_app.l1.source import EVENT_NONCE_SELECTOR

    assert EVENT_NONCE_SELECTOR == keccak(text="eventNonce()")[:4]


def test_event_nonce_is_read_at_the_exact_block_hash(server: ScriptedServer) -> None:
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> bytes:
        seen.append(request)
        word = "0x" + (7).to_bytes(32, "big").hex()
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": word}).encode()

    server.responder = respond
    assert JsonRpcSource(server.url).get_event_nonce(b"\x11" * 20, b"\xab" * 32) == 7
    assert seen[0]["params"][1] == {"blockHash": HASH}
