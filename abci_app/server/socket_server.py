"""The ABCI socket transport: one thread per connection, a read/dispatch/write loop.

CometBFT opens four connections (consensus, mempool, query, snapshot). Each is
served by its own thread and answered in FIFO order. The frames of one read are
handled as a batch and answered with one write, so a long FinalizeBlock on the
consensus connection does not hold up CheckTx on the mempool connection; the
handler does its own locking (SeqsetApp.handle). Flush, which CometBFT sends after
each request, is answered here from fixed bytes: it never reaches the handler.

Blocking reads on a thread per connection, not an event loop handing each batch to a
worker thread: a request then costs no thread hand-off there and back (two wake-ups
and a self-pipe write), which on a 1 ms block time was a large share of each ABCI
call. The socket calls release the GIL while they wait. `start` and `close` are
coroutines so that the node's asyncio runner drives the server as before.
"""

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlparse

from abci_app import pb
from abci_app.server.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    FLUSH_REQUEST_PAYLOAD,
    FLUSH_RESPONSE_FRAME,
    AbciConnection,
    FramingError,
    decode_request,
)

log = logging.getLogger("seqset.abci.socket")

Handler = Callable[[pb.abci.Request], pb.abci.Response]
# Under glibc's mmap threshold (128 KiB): a larger recv buffer is mmapped and unmapped
# on every call, which cost about 20 us per read here against 2 us at 64 KiB.
_READ_CHUNK = 64 * 1024
_BACKLOG = 16
_CLOSE_TIMEOUT_S = 5.0
_ACCEPT_RETRY_S = 0.1


def parse_listen_address(address: str) -> tuple[str, str | int]:
    """Returns ("unix", path) or ("tcp", "host:port") for tcp://h:p and unix://path."""
    parsed = urlparse(address)
    if parsed.scheme == "unix":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path:
            raise ValueError(f"unix address without a path: {address!r}")
        return "unix", path
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ValueError(f"tcp address needs host and port: {address!r}")
        return "tcp", f"{parsed.hostname}:{parsed.port}"
    raise ValueError(f"unsupported ABCI address {address!r}: use tcp://host:port or unix:///path")


class AbciSocketServer:
    def __init__(
        self, handler: Handler, address: str, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> None:
        self._handler = handler
        self._address = address
        self._max_frame_bytes = max_frame_bytes
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._lock = threading.Lock()  # guards _connections
        self._closing = threading.Event()

    async def start(self) -> None:
        self._listener = _listen(self._address)
        self._accepting = threading.Thread(target=self._accept_loop, name="abci-accept",
                                           daemon=True)
        self._accepting.start()
        log.info("ABCI socket server listening on %s", self._address)

    async def serve_forever(self) -> None:
        if self._listener is None:
            await self.start()
        await asyncio.to_thread(self._closing.wait)

    async def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            self._listener.close()
        with self._lock:
            connections = dict(self._connections)
        for sock in connections.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # ends that connection's read loop
        threads = [*connections, *([self._accepting] if self._accepting else [])]
        await asyncio.to_thread(_join_all, threads, _CLOSE_TIMEOUT_S)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if self._closing.is_set():
                    return
                log.exception("ABCI accept failed")
                # Out of file descriptors (EMFILE) fails every accept: never spin on it.
                self._closing.wait(_ACCEPT_RETRY_S)
                continue
            if sock.family != socket.AF_UNIX:  # small answers must not wait for Nagle
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._on_connect, args=(sock,),
                                      name="abci-conn", daemon=True)
            with self._lock:
                self._connections[thread] = sock
            thread.start()

    def _on_connect(self, sock: socket.socket) -> None:
        peer = _peer_name(sock)
        log.info("ABCI connection opened from %s", peer)
        try:
            self._serve(sock)
        except FramingError as exc:
            log.error("closing ABCI connection from %s: %s", peer, exc)
        except OSError as exc:
            log.info("ABCI connection from %s lost: %s", peer, exc)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            sock.close()

    def _serve(self, sock: socket.socket) -> None:
        conn = AbciConnection(self._max_frame_bytes)
        while True:
            data = sock.recv(_READ_CHUNK)
            if not data:
                return
            conn.receive_data(data)
            requests, framing_error = _take_requests(conn)
            if requests:
                sock.sendall(self._answer(conn, requests))
            if framing_error is not None:
                raise framing_error  # after answering the good frames before it

    def _answer(self, conn: AbciConnection, requests: list[pb.abci.Request | None]) -> bytes:
        handler = self._handler
        return b"".join(FLUSH_RESPONSE_FRAME if request is None else conn.send(handler(request))
                        for request in requests)


def _listen(address: str) -> socket.socket:
    kind, where = parse_listen_address(address)
    if kind == "unix":
        path = str(where)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
    else:
        host, port = str(where).rsplit(":", 1)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, int(port)))
        except OSError as exc:
            listener.close()
            raise OSError(exc.errno, f"cannot listen for ABCI on {address}: {exc.strerror}"
                          ) from exc
    listener.listen(_BACKLOG)
    return listener


def _peer_name(sock: socket.socket) -> str:
    with contextlib.suppress(OSError):
        peer = sock.getpeername()
        if peer:
            return str(peer)
    return "unix peer"


def _join_all(threads: list[threading.Thread], timeout_s: float) -> None:
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join(timeout_s)


def _take_requests(
    conn: AbciConnection,
) -> tuple[list[pb.abci.Request | None], FramingError | None]:
    """Every whole frame buffered (None for a Flush, which the server answers itself),
    and the framing error that ended them, if any."""
    requests: list[pb.abci.Request | None] = []
    try:
        while (payload := conn.next_frame()) is not None:
            requests.append(None if payload == FLUSH_REQUEST_PAYLOAD else decode_request(payload))
    except FramingError as exc:
        return requests, exc
    return requests, None
