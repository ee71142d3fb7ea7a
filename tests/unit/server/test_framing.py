"""The sans-IO framing: bytes in, requests out, with no sockets."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app import pb
from abci_app.server.framing import (
    AbciConnection,
    FramingError,
    decode_uvarint,
    encode_frame,
    encode_uvarint,
)


def echo_frame(message: str) -> bytes:
    request = pb.abci.Request(echo=pb.abci.RequestEcho(message=message))
    return encode_frame(request.SerializeToString())


@given(st.integers(min_value=0, max_value=2**63))
def test_uvarint_round_trips(value: int) -> None:
    encoded = encode_uvarint(value)
    assert decode_uvarint(encoded) == (value, len(encoded))


def test_a_frame_split_across_reads_is_reassembled() -> None:
    frame = echo_frame("split")
    conn = AbciConnection()
    for i in range(len(frame) - 1):
        conn.receive_data(frame[i:i + 1])
        assert conn.next_request() is None
    conn.receive_data(frame[-1:])
    request = conn.next_request()
    assert request is not None and request.echo.message == "split"


def test_coalesced_frames_come_out_in_order() -> None:
    conn = AbciConnection()
    conn.receive_data(b"".join(echo_frame(f"m{i}") for i in range(5)))
    messages = []
    while (request := conn.next_request()) is not None:
        messages.append(request.echo.message)
    assert messages == [f"m{i}" for i in range(5)]
    assert conn.buffered_bytes == 0


def test_zero_length_frame_is_a_framing_error() -> None:
    conn = AbciConnection()
    conn.receive_data(b"\x00")
    with pytest.raises(FramingError, match="zero-length"):
        conn.next_request()


def test_length_over_the_limit_is_refused_before_buffering_it() -> None:
    conn = AbciConnection(max_frame_bytes=1024)
    conn.receive_data(encode_uvarint(1025))
    with pytest.raises(FramingError, match="over the 1024 limit"):
        conn.next_request()


def test_an_overlong_varint_is_a_framing_error() -> None:
    conn = AbciConnection()
    conn.receive_data(b"\xff" * 11)
    with pytest.raises(FramingError, match="longer than 10 bytes"):
        conn.next_request()


def test_undecodable_payload_is_a_framing_error() -> None:
    conn = AbciConnection()
    conn.receive_data(encode_frame(b"\xff\xff\xff"))
    with pytest.raises(FramingError):
        conn.next_request()


def test_responses_are_length_prefixed() -> None:
    response = pb.abci.Response(flush=pb.abci.ResponseFlush())
    out = AbciConnection().send(response)
    length, used = decode_uvarint(out) or (0, 0)
    assert out[used:] == response.SerializeToString() and length == len(out) - used


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_random_bytes_yield_requests_need_data_or_framing_error(data: bytes) -> None:
    conn = AbciConnection(max_frame_bytes=4096)
    conn.receive_data(data)
    requests = []
    try:
        while (request := conn.next_request()) is not None:
            requests.append(request)
    except FramingError:
        return  # the caller closes the connection
    # Otherwise every frame decoded to a real method and the rest awaits more bytes.
    assert all(r.WhichOneof("value") is not None for r in requests)
    assert conn.buffered_bytes <= len(data)
