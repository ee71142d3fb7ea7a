"""The extension's L2 headers, seed randomness and L1 height: built from our view,
decoded strictly."""

from typing import Any

import pytest

from abci_app import pb
from abci_app.devnet.relay_testing import (
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
)
from abci_app.relay.codec import VoteExtension, encode_message
from abci_app.relay.extension import build_extension, decode_extension, verify_extension
from abci_app.relay.params import RelayParams

from .helpers import PARAMS, make_events

GENESIS = make_l2_genesis_hash()
HEADERS = make_l2_headers(1, 6, GENESIS)


def build(**kwargs: Any) -> bytes:
    """An extension with no events, after the L2 genesis unless told otherwise."""
    options: dict[str, Any] = {"l2_head": (0, GENESIS)}
    options.update(kwargs)
    return build_extension([], 0, PARAMS, **options)


def test_build_takes_linked_headers_after_the_head() -> None:
    decoded = decode_extension(build(l2_headers=HEADERS[::-1],
                                     l2_head=(2, bytes(HEADERS[1].hash))), PARAMS)
    assert decoded is not None
    assert list(decoded.l2_headers) == HEADERS[2:]


def test_build_without_a_registered_l2_carries_no_headers() -> None:
    assert build(l2_headers=HEADERS, l2_head=None) == b""


def test_build_stops_at_a_gap_or_a_broken_link() -> None:
    decoded = decode_extension(build(l2_headers=HEADERS[:2] + HEADERS[3:]), PARAMS)
    assert decoded is not None and list(decoded.l2_headers) == HEADERS[:2]
    fork = make_l2_headers(3, 2, b"\x99" * 32)  # height 3 that does not link to height 2
    decoded = decode_extension(build(l2_headers=HEADERS[:2] + fork), PARAMS)
    assert decoded is not None and list(decoded.l2_headers) == HEADERS[:2]
    # Headers of another head: nothing links to ours.
    assert build(l2_headers=HEADERS, l2_head=(0, b"\x01" * 32)) == b""


def test_build_caps_headers_by_count() -> None:
    params = RelayParams(max_l2_headers_per_extension=4)
    decoded = decode_extension(build_extension([], 0, params, l2_headers=HEADERS,
                                               l2_head=(0, GENESIS)), params)
    assert decoded is not None and len(decoded.l2_headers) == 4


def test_byte_budget_gives_headers_half_and_events_the_rest() -> None:
    params = RelayParams(max_extension_bytes=2048, max_attested_tx_bytes=4096,
                         max_l2_headers_per_extension=100)
    headers = make_l2_headers(1, 100, GENESIS)
    events = make_events(1, 60)
    data = build_extension(events, 0, params, l2_headers=headers, l2_head=(0, GENESIS))
    decoded = decode_extension(data, params)
    assert decoded is not None and len(data) <= 2048
    header_bytes = len(encode_message(VoteExtension(l2_headers=decoded.l2_headers)))
    event_bytes = len(encode_message(VoteExtension(events=decoded.events)))
    assert decoded.events and decoded.l2_headers, "neither part may starve the other"
    assert header_bytes <= 1024 < header_bytes + 110  # about half: one header is ~105 bytes
    assert event_bytes > 700
    # With no events to carry, headers use the whole budget.
    alone = decode_extension(build_extension([], 0, params, l2_headers=headers,
                                             l2_head=(0, GENESIS)), params)
    assert alone is not None and len(alone.l2_headers) > len(decoded.l2_headers)


def test_build_carries_randomness_only_for_the_seed_request() -> None:
    randomness = make_randomness(77)
    decoded = decode_extension(build(randomness=randomness, seed_request=77), PARAMS)
    assert decoded is not None and decoded.seed_randomness == randomness
    assert build(randomness=randomness, seed_request=78) == b""
    assert build(randomness=randomness, seed_request=0) == b""


def test_build_carries_the_confirmed_l1_height() -> None:
    decoded = decode_extension(build(l1_confirmed_height=1234), PARAMS)
    assert decoded is not None and decoded.l1_confirmed_height == 1234


def raw(headers: list[pb.l2.L2Header] | None = None,
        randomness: pb.l2.L1Randomness | None = None) -> bytes:
    message = VoteExtension(l2_headers=headers or [])
    if randomness is not None:
        message.seed_randomness.CopyFrom(randomness)
    return encode_message(message)


def test_decode_accepts_linked_headers_and_randomness() -> None:
    decoded = decode_extension(raw(HEADERS[2:5], make_randomness(9)), PARAMS)
    assert decoded is not None
    assert list(decoded.l2_headers) == HEADERS[2:5]
    assert decoded.seed_randomness == make_randomness(9)


def _bad_header(field: str, value: object) -> pb.l2.L2Header:
    header = pb.l2.L2Header()
    header.CopyFrom(HEADERS[1])
    setattr(header, field, value)
    return header


@pytest.mark.parametrize("headers", [
    [HEADERS[0], HEADERS[2]],                                   # height gap
    [HEADERS[1], HEADERS[0]],                                   # descending
    [HEADERS[0], make_l2_headers(2, 1, b"\x42" * 32)[0]],       # broken link
    [HEADERS[0], _bad_header("hash", b"\x01" * 31)],
    [_bad_header("parent_hash", b"")],
    [_bad_header("producer", b"\x01" * 21)],
    [_bad_header("height", 0)],
], ids=["gap", "descending", "broken-link", "short-hash", "no-parent", "long-producer",
        "height-0"])
def test_invalid_headers_are_malformed(headers: list[pb.l2.L2Header]) -> None:
    assert decode_extension(raw(headers), PARAMS) is None
    assert not verify_extension(raw(headers), PARAMS)


def test_invalid_header_count_over_cap_is_malformed() -> None:
    params = RelayParams(max_l2_headers_per_extension=3)
    assert decode_extension(raw(HEADERS[:4]), params) is None


@pytest.mark.parametrize("randomness", [
    pb.l2.L1Randomness(),
    pb.l2.L1Randomness(l1_height=5, mix_hash=b"\x01" * 31),
    pb.l2.L1Randomness(l1_height=0, mix_hash=b"\x01" * 32),
])
def test_invalid_randomness_is_malformed(randomness: pb.l2.L1Randomness) -> None:
    assert decode_extension(raw(randomness=randomness), PARAMS) is None


def test_verify_accepts_headers_that_disagree_with_ours() -> None:
    # Another validator's L2 node may be on another branch: not counted, never rejected.
    assert verify_extension(raw(make_l2_headers(7, 3, b"\x05" * 32, label="theirs")), PARAMS)
