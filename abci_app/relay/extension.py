"""The vote extension: a bounded, contiguous window of observed L1 events.

ExtendVote builds it from our sidecar's view; VerifyVoteExtension checks only
its form. An extension that disagrees with our own view is accepted and
simply not counted: rejecting it deadlocked heimdall-v2 (#616) when views lagged.
"""

from collections.abc import Iterable
from typing import Any

from abci_app import pb
from abci_app.l1events_schema import UINT64_MAX
from abci_app.relay.codec import VoteExtension, decode_canonical, encode_message
from abci_app.relay.event_checks import is_well_formed_event
from abci_app.relay.params import RelayParams
from abci_app.server.framing import encode_uvarint

# Tag byte of VoteExtension.events (field 1, length-delimited).
_EVENTS_TAG_BYTES = 1


def compute_event_entry_bytes(event: pb.events.L1Event) -> int:
    """Bytes one event adds to an encoded VoteExtension (tag + length + body)."""
    size = len(encode_message(event))
    return _EVENTS_TAG_BYTES + len(encode_uvarint(size)) + size


def build_extension(
    events: Iterable[pb.events.L1Event], last_applied_nonce: int, params: RelayParams
) -> bytes:
    """Encodes the contiguous run of well-formed events from last_applied_nonce + 1.

    Stops at the first gap or malformed event, and before the count or byte cap
    would be exceeded. Returns empty bytes when there is nothing to attest.
    """
    ordered = sorted(events, key=lambda event: int(event.nonce))
    chosen: list[pb.events.L1Event] = []
    size = 0
    expected = last_applied_nonce + 1
    for event in ordered:
        if event.nonce < expected:
            continue  # already applied, or a duplicate of one just taken
        if event.nonce != expected or not is_well_formed_event(event):
            break
        entry = compute_event_entry_bytes(event)
        if len(chosen) >= params.max_events_per_extension:
            break
        if size + entry > params.max_extension_bytes:
            break
        chosen.append(event)
        size += entry
        expected += 1
    if not chosen:
        return b""
    return encode_message(VoteExtension(events=chosen))


def decode_extension(data: bytes, params: RelayParams) -> list[pb.events.L1Event] | None:
    """The extension's events, [] for empty bytes, or None when malformed.

    Malformed: over the byte or count cap, not canonically encoded, nonces not
    contiguous and increasing, or any event with a bad shape.
    """
    # Verify the size before parsing anything
    if len(data) > params.max_extension_bytes:
        return None
    if not data:
        return []
    message: Any = decode_canonical(VoteExtension, data)
    if message is None:
        return None
    events: list[pb.events.L1Event] = list(message.events)
    # Verify the count and the shape of each event
    if not events or len(events) > params.max_events_per_extension:
        return None
    if not all(is_well_formed_event(event) for event in events):
        return None
    # Verify nonces are contiguous (which also makes them strictly increasing)
    first = int(events[0].nonce)
    if first + len(events) - 1 > UINT64_MAX:
        return None
    if any(int(event.nonce) != first + index for index, event in enumerate(events)):
        return None
    return events


def verify_extension(data: bytes, params: RelayParams) -> bool:
    """VerifyVoteExtension's rule: accept empty or well-formed; never consult our sidecar."""
    try:
        return decode_extension(data, params) is not None
    except Exception:  # a bug must not turn into a crash in consensus
        return False
