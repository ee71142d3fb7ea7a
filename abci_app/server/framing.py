"""Sans-IO ABCI socket framing: bytes in, requests out; responses in, bytes out.

CometBFT v0.38 writes each message as a uvarint length followed by that many
bytes of protobuf (`libs/protoio.NewDelimitedWriter`). This module holds no
sockets, so it is tested with plain bytes.
"""

from google.protobuf.message import DecodeError

from abci_app import pb

# Above CometBFT's largest block (types.MaxBlockSizeBytes, 100 MiB) plus the
# rest of a FinalizeBlock request, so no legal block can close the connection.
DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024
_MAX_UVARINT_BYTES = 10


class FramingError(Exception):
    """The peer sent bytes that are not a valid ABCI frame; drop the connection."""


def encode_uvarint(value: int) -> bytes:
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(buf: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Returns (value, bytes consumed), or None if the varint is incomplete."""
    value = 0
    for i in range(_MAX_UVARINT_BYTES):
        pos = start + i
        if pos >= len(buf):
            return None
        byte = buf[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise FramingError("length prefix longer than 10 bytes")


def encode_frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class AbciConnection:
    """One ABCI connection's framing state.

    Feed received bytes with `receive_data`, then call `next_request` until it
    returns None (more data needed). Any malformed frame raises FramingError;
    the caller closes the connection.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame_bytes = max_frame_bytes

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def next_request(self) -> pb.abci.Request | None:
        payload = self.next_frame()
        return None if payload is None else decode_request(payload)

    def next_frame(self) -> bytes | None:
        """The next whole frame's payload, undecoded; None if more data is needed."""
        buffer = self._buffer
        if not buffer:
            return None
        if buffer[0] < 0x80:  # most frames: a one-byte length
            length, header_len = buffer[0], 1
        elif (header := decode_uvarint(buffer)) is not None:
            length, header_len = header
        else:
            return None
        if length == 0:
            raise FramingError("zero-length frame")
        if length > self._max_frame_bytes:
            raise FramingError(f"frame of {length} bytes over the {self._max_frame_bytes} limit")
        end = header_len + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[header_len:end])
        del buffer[:end]
        return payload

    def send(self, response: pb.abci.Response) -> bytes:
        return encode_frame(response.SerializeToString())


def decode_request(payload: bytes) -> pb.abci.Request:
    request = pb.abci.Request()
    try:
        request.ParseFromString(payload)
    except DecodeError as exc:
        raise FramingError(f"undecodable request: {exc}") from exc
    if request.WhichOneof("value") is None:
        raise FramingError("request with no known method")
    return request


# Flush only asks for the answers before it, which go out in order anyway: the
# transport answers it from these bytes, with no decoding and no app lock.
FLUSH_REQUEST_PAYLOAD = pb.abci.Request(flush=pb.abci.RequestFlush()).SerializeToString()
FLUSH_RESPONSE_FRAME = encode_frame(
    pb.abci.Response(flush=pb.abci.ResponseFlush()).SerializeToString())
