"""Building, decoding and verifying vote extensions."""

import pytest

from abci_app import pb
from abci_app.devnet.relay_testing import make_event
from abci_app.relay.codec import VoteExtension, encode_message
from abci_app.relay.extension import build_extension, decode_extension, verify_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.types import ExtensionData

from .helpers import PARAMS, make_events


def encode_raw(events: list[pb.events.L1Event]) -> bytes:
    """An extension built without build_extension's filtering, as an attacker might."""
    return encode_message(VoteExtension(events=events))


def decoded_events(data: bytes, params: RelayParams = PARAMS) -> list[pb.events.L1Event] | None:
    """decode_extension's events, or None when malformed."""
    decoded = decode_extension(data, params)
    return None if decoded is None else list(decoded.events)


def test_build_takes_contiguous_run_after_last_applied() -> None:
    events = make_events(1, 6)
    data = build_extension(events, 2, PARAMS)
    assert [e.nonce for e in decoded_events(data) or []] == [3, 4, 5, 6]


def test_build_sorts_and_stops_at_first_gap() -> None:
    events = [make_event(5), make_event(3), make_event(1), make_event(2)]
    decoded = decoded_events(build_extension(events, 0, PARAMS))
    assert [e.nonce for e in decoded or []] == [1, 2, 3]


def test_build_with_nothing_new_is_empty_bytes() -> None:
    assert build_extension([], 0, PARAMS) == b""
    assert build_extension(make_events(1, 3), 3, PARAMS) == b""
    assert build_extension(make_events(5, 3), 0, PARAMS) == b""


def test_build_stops_at_malformed_event() -> None:
    bad = make_event(2)
    bad.l1_block_hash = b"\x01" * 31
    decoded = decoded_events(build_extension([make_event(1), bad, make_event(3)], 0, PARAMS))
    assert [e.nonce for e in decoded or []] == [1]


def test_build_is_bounded_by_count() -> None:
    params = RelayParams(max_events_per_extension=5)
    decoded = decoded_events(build_extension(make_events(1, 20), 0, params), params)
    assert [e.nonce for e in decoded or []] == [1, 2, 3, 4, 5]


def test_build_is_bounded_by_bytes() -> None:
    params = RelayParams(max_extension_bytes=1000)
    data = build_extension(make_events(1, 64), 0, params)
    assert 0 < len(data) <= 1000
    decoded = decoded_events(data, params) or []
    assert len(decoded) >= 1
    one_more = encode_raw(make_events(1, len(decoded) + 1))
    assert len(one_more) > 1000


def test_decode_empty_bytes_is_nothing() -> None:
    assert decode_extension(b"", PARAMS) == ExtensionData()


def test_decode_returns_events_in_order() -> None:
    events = make_events(7, 3)
    assert decoded_events(encode_raw(events)) == events


@pytest.mark.parametrize("nonces", [[1, 3], [2, 1], [1, 1], [0, 1]])
def test_invalid_nonce_order_is_malformed(nonces: list[int]) -> None:
    assert decode_extension(encode_raw([make_event(n) for n in nonces]), PARAMS) is None


def test_invalid_over_count_cap_is_malformed() -> None:
    params = RelayParams(max_events_per_extension=3)
    assert decode_extension(encode_raw(make_events(1, 4)), params) is None


def test_invalid_over_byte_cap_is_malformed() -> None:
    params = RelayParams(max_extension_bytes=300)
    data = encode_raw(make_events(1, 3))
    assert len(data) > 300
    assert decode_extension(data, params) is None
    assert not verify_extension(data, params)


def _mutations() -> list[pb.events.L1Event]:
    cases = []
    for field, value in [("l1_block_hash", b"\x01" * 33), ("l1_tx_hash", b"")]:
        event = make_event(1)
        setattr(event, field, value)
        cases.append(event)
    for amount in ["01", "-1", "1.0", " 1", "", "1e18", "١", str(2**256)]:
        event = make_event(1)
        event.lock_increased.amount_wei = amount
        cases.append(event)
    cases.append(pb.events.L1Event(nonce=1, l1_block_hash=b"\x01" * 32, l1_tx_hash=b"\x02" * 32))
    locked = make_event(1)
    locked.locked.CopyFrom(pb.events.Locked(sequencer_id=1, owner=b"\x01" * 20,
                                            signer=b"\x02" * 19, consensus_pubkey=b"\x03" * 32,
                                            amount_wei="5"))
    cases.append(locked)
    released = make_event(1)
    released.released.CopyFrom(pb.events.Released(sequencer_id=1, to=b"\x01" * 21,
                                                  amount_wei="5"))
    cases.append(released)
    return cases


@pytest.mark.parametrize("event", _mutations())
def test_invalid_field_shape_is_malformed(event: pb.events.L1Event) -> None:
    assert decode_extension(encode_raw([event]), PARAMS) is None


def test_well_formed_kinds_decode() -> None:
    locked = make_event(1)
    locked.locked.CopyFrom(pb.events.Locked(sequencer_id=1, owner=b"\x01" * 20,
                                            signer=b"\x02" * 20, consensus_pubkey=b"\x03" * 32,
                                            amount_wei=str(2**256 - 1)))
    claimed = make_event(2)
    claimed.rewards_claimed.CopyFrom(pb.events.RewardsClaimed(sequencer_id=1, to=b"\x01" * 20,
                                                              amount_wei="0"))
    assert decoded_events(encode_raw([locked, claimed])) == [locked, claimed]


def test_invalid_non_canonical_encoding_is_malformed() -> None:
    data = encode_raw(make_events(1, 1))
    assert decode_extension(data + b"\x10\x05", PARAMS) is None  # unknown field 2
    assert decode_extension(data[:-1], PARAMS) is None  # truncated
    assert decode_extension(b"\xff\xff\xff", PARAMS) is None


def test_verify_accepts_empty_extension() -> None:
    assert verify_extension(b"", PARAMS)


def test_verify_accepts_well_formed_extension_that_disagrees_with_ours() -> None:
    # Another validator's L1 view may lag or differ: not counted, never rejected.
    theirs = build_extension(make_events(40, 3, amount_wei=7), 39, PARAMS)
    assert verify_extension(theirs, PARAMS)


def test_verify_rejects_malformed_extension() -> None:
    assert not verify_extension(b"\x0a\x01", PARAMS)
    assert not verify_extension(encode_raw([make_event(2), make_event(1)]), PARAMS)
