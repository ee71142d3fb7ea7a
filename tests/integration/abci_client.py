"""A tiny synchronous ABCI socket client: send one Request, read its framed Response.

Tests use it to drive a live `seqset start` the way CometBFT would, without
CometBFT: each call writes one uvarint-framed request and blocks until the
matching response frame arrives (the server answers in FIFO order).
"""

import socket
from types import TracebackType

from abci_app import pb
from abci_app.server.framing import decode_uvarint, encode_frame

_READ_CHUNK = 256 * 1024


class AbciClient:
    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._buffer = bytearray()

    def call(self, request: pb.abci.Request) -> pb.abci.Response:
        """Sends `request` and returns the app's response; ConnectionError if it hung up."""
        self._sock.sendall(encode_frame(request.SerializeToString()))
        while True:
            header = decode_uvarint(self._buffer)
            if header is not None:
                length, header_len = header
                end = header_len + length
                if len(self._buffer) >= end:
                    response = pb.abci.Response()
                    response.ParseFromString(bytes(self._buffer[header_len:end]))
                    del self._buffer[:end]
                    return response
            data = self._sock.recv(_READ_CHUNK)
            if not data:
                raise ConnectionError("the app closed the ABCI connection")
            self._buffer += data

    def echo(self, message: str) -> str:
        response = self.call(pb.abci.Request(echo=pb.abci.RequestEcho(message=message)))
        return str(response.echo.message)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "AbciClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
