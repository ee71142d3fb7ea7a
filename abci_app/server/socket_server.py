"""The ABCI socket transport: a thin asyncio read/dispatch/write loop.

CometBFT opens four connections (consensus, mempool, query, snapshot). Each is
served independently and answered in FIFO order. The frames of one read are
handled as a batch on that connection's own worker thread and answered with one
write, so a long FinalizeBlock on the consensus connection does not hold up
CheckTx on the mempool connection; the handler does its own locking
(SeqsetApp.handle).
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from abci_app import pb
from abci_app.server.framing import DEFAULT_MAX_FRAME_BYTES, AbciConnection, FramingError

log = logging.getLogger("seqset.abci.socket")

Handler = Callable[[pb.abci.Request], pb.abci.Response]
_READ_CHUNK = 256 * 1024


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
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        kind, where = parse_listen_address(self._address)
        if kind == "unix":
            path = str(where)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self._server = await asyncio.start_unix_server(self._on_connect, path=path)
        else:
            host, port = str(where).rsplit(":", 1)
            self._server = await asyncio.start_server(self._on_connect, host, int(port))
        log.info("ABCI socket server listening on %s", self._address)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing the transports ends each connection's read loop cleanly.
        for writer in list(self._connections.values()):
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        peer = writer.get_extra_info("peername") or "unix peer"
        log.info("ABCI connection opened from %s", peer)
        try:
            await self._serve(reader, writer)
        except FramingError as exc:
            log.error("closing ABCI connection from %s: %s", peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("ABCI connection from %s lost: %s", peer, exc)
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = AbciConnection(self._max_frame_bytes)
        loop = asyncio.get_running_loop()
        # One thread per connection keeps its answers in order.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abci-conn")
        try:
            while True:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    return
                conn.receive_data(data)
                requests, framing_error = _take_requests(conn)
                if requests:
                    out = await loop.run_in_executor(worker, self._answer, conn, requests)
                    writer.write(out)
                    await writer.drain()
                if framing_error is not None:
                    raise framing_error  # after answering the good frames before it
        finally:
            worker.shutdown(wait=False)  # never block the event loop on a running handler

    def _answer(self, conn: AbciConnection, requests: list[pb.abci.Request]) -> bytes:
        return b"".join(conn.send(self._handler(request)) for request in requests)


def _take_requests(conn: AbciConnection) -> tuple[list[pb.abci.Request], FramingError | None]:
    """Every whole frame buffered, and the framing error that ended them, if any."""
    requests: list[pb.abci.Request] = []
    try:
        while (request := conn.next_request()) is not None:
            requests.append(request)
    except FramingError as exc:
        return requests, exc
    return requests, None
