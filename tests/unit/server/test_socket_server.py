"""The asyncio socket server with a stub handler: garbage on one connection never hurts another."""

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import pb
from abci_app.server.framing import AbciConnection, decode_uvarint, encode_frame, encode_uvarint
from abci_app.server.socket_server import AbciSocketServer, parse_listen_address


def stub_handler(request: pb.abci.Request) -> pb.abci.Response:
    if request.WhichOneof("value") == "echo":
        return pb.abci.Response(echo=pb.abci.ResponseEcho(message=request.echo.message))
    return pb.abci.Response(flush=pb.abci.ResponseFlush())


def echo_frame(message: str) -> bytes:
    return encode_frame(pb.abci.Request(echo=pb.abci.RequestEcho(message=message))
                        .SerializeToString())


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[pb.abci.Response]:
    """Decodes `count` responses (they are framed like requests)."""
    from abci_app.server.framing import decode_uvarint

    buf = bytearray()
    out: list[pb.abci.Response] = []
    while len(out) < count:
        buf += await asyncio.wait_for(reader.read(65536), timeout=5)
        while (header := decode_uvarint(buf)) is not None and len(buf) >= sum(header):
            length, used = header
            response = pb.abci.Response()
            response.ParseFromString(bytes(buf[used:used + length]))
            del buf[:used + length]
            out.append(response)
    return out


@pytest.fixture
async def server(tmp_path: "os.PathLike[str]") -> AsyncIterator[str]:
    path = os.path.join(str(tmp_path), "abci.sock")
    srv = AbciSocketServer(stub_handler, f"unix://{path}", max_frame_bytes=4096)
    await srv.start()
    yield path
    await srv.close()


async def assert_alive(path: str) -> None:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(echo_frame("alive"))
    await writer.drain()
    (response,) = await read_responses(reader, 1)
    assert response.echo.message == "alive"
    writer.close()


def test_parse_listen_address_accepts_tcp_and_unix() -> None:
    assert parse_listen_address("tcp://127.0.0.1:26658") == ("tcp", "127.0.0.1:26658")
    assert parse_listen_address("unix:///tmp/a.sock") == ("unix", "/tmp/a.sock")
    with pytest.raises(ValueError, match="unsupported"):
        parse_listen_address("http://x:1")


async def test_split_and_coalesced_frames_are_answered_in_order(server: str) -> None:
    reader, writer = await asyncio.open_unix_connection(server)
    frames = b"".join(echo_frame(f"m{i}") for i in range(20))
    for i in range(0, len(frames), 7):
        writer.write(frames[i:i + 7])
        await writer.drain()
    responses = await read_responses(reader, 20)
    assert [r.echo.message for r in responses] == [f"m{i}" for i in range(20)]
    writer.close()


@pytest.mark.parametrize("garbage", [
    b"\x00",                                   # zero-length frame
    encode_uvarint(10_000) + b"x" * 10,        # length over the limit
    encode_frame(b"\xff\xff\xff\xff"),         # undecodable protobuf
    b"\xff" * 12,                              # runaway varint
])
async def test_garbage_closes_only_that_connection(server: str, garbage: bytes) -> None:
    reader, writer = await asyncio.open_unix_connection(server)
    writer.write(echo_frame("before") + garbage)
    await writer.drain()
    (response,) = await read_responses(reader, 1)
    assert response.echo.message == "before"
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the server
    await assert_alive(server)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=300))
def test_random_bytes_never_take_the_server_down(tmp_path_factory: pytest.TempPathFactory,
                                                  data: bytes) -> None:
    async def scenario() -> None:
        path = str(tmp_path_factory.mktemp("fuzz") / "abci.sock")
        srv = AbciSocketServer(stub_handler, f"unix://{path}", max_frame_bytes=4096)
        await srv.start()
        try:
            _, writer = await asyncio.open_unix_connection(path)
            writer.write(data)
            await writer.drain()
            writer.close()
            await assert_alive(path)
        finally:
            await srv.close()

    asyncio.run(scenario())


def test_connection_reports_need_data_on_partial_header() -> None:
    conn = AbciConnection()
    conn.receive_data(b"\x80")
    assert conn.next_request() is None


async def test_requests_are_answered_without_the_event_loop(server: str) -> None:
    # Each connection reads, handles and writes on its own thread: no hand-off through
    # the event loop per request (the loop is blocked for this whole exchange).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(server)
        client.sendall(echo_frame("a") + echo_frame("b"))
        buf = b""
        while len(buf) < 2 * len(echo_frame("a")):
            chunk = client.recv(4096)
            assert chunk, "the server closed the connection"
            buf += chunk
    messages = []
    while (header := decode_uvarint(buf)) is not None:
        length, used = header
        messages.append(pb.abci.Response.FromString(buf[used:used + length]).echo.message)
        buf = buf[used + length:]
    assert messages == ["a", "b"]


async def test_close_ends_open_connections(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "abci.sock")
    srv = AbciSocketServer(stub_handler, f"unix://{path}", max_frame_bytes=4096)
    await srv.start()
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(echo_frame("open"))
    await writer.drain()
    await read_responses(reader, 1)
    await asyncio.wait_for(srv.close(), timeout=10)
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()


def flush_frame() -> bytes:
    return encode_frame(pb.abci.Request(flush=pb.abci.RequestFlush()).SerializeToString())


async def test_flush_is_answered_in_order_without_the_handler(tmp_path: "os.PathLike[str]"
                                                              ) -> None:
    # CometBFT sends a Flush after each request: answering it needs no decoding, no
    # app lock and no handler call, and its answer still follows the ones before it.
    handled: list[str] = []

    def handler(request: pb.abci.Request) -> pb.abci.Response:
        handled.append(request.WhichOneof("value") or "")
        return stub_handler(request)

    path = os.path.join(str(tmp_path), "abci.sock")
    srv = AbciSocketServer(handler, f"unix://{path}", max_frame_bytes=4096)
    await srv.start()
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(echo_frame("a") + flush_frame() + echo_frame("b") + flush_frame())
        await writer.drain()
        responses = await read_responses(reader, 4)
        assert [r.WhichOneof("value") for r in responses] == ["echo", "flush", "echo", "flush"]
        assert [r.echo.message for r in responses[::2]] == ["a", "b"]
        assert handled == ["echo", "echo"]
        writer.close()
    finally:
        await srv.close()


def test_a_failing_accept_is_retried_without_spinning() -> None:
    """EMFILE fails every accept() until a descriptor frees: the loop must back off,
    not burn a core and flood the log."""
    import threading
    import time

    class FailingListener:
        calls = 0

        def accept(self) -> tuple[socket.socket, object]:
            FailingListener.calls += 1
            raise OSError(24, "Too many open files")

    srv = AbciSocketServer(stub_handler, "unix:///unused")
    srv._listener = FailingListener()  # type: ignore[assignment]
    thread = threading.Thread(target=srv._accept_loop, daemon=True)
    thread.start()
    time.sleep(0.3)
    srv._closing.set()
    thread.join(2)
    assert not thread.is_alive()
    assert FailingListener.calls <= 10


async def test_a_busy_abci_address_is_named_in_the_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        server = AbciSocketServer(lambda request: pb.abci.Response(), address)
        with pytest.raises(OSError, match=f"cannot listen for ABCI on {address}"):
            await server.start()
