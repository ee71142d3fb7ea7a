"""The vote extension: what one validator's sidecar saw, bounded.

Five parts: the contiguous window of L1 events after the last applied nonce;
the L2 headers after the chain's attested L2 head (contiguous, linked by parent
hash, the first to the head's hash); the randomness of the L1 block the chain
asked for, once confirmed; the sidecar's confirmed L1 height; and our signature
over the in-flight settlement batch's digest (settlement_checks.py).

ExtendVote builds it from our sidecar's view; VerifyVoteExtension checks only
its form. An extension that disagrees with our own view is accepted and
simply not counted: rejecting it deadlocked heimdall-v2 (#616) when views lagged.

Byte budget: `max_extension_bytes` bounds the whole encoding. The settlement
signature, the randomness and the L1 height (under 140 bytes together) come
off first. Of the rest, L2
headers are guaranteed half and L1 events the remainder; a part that needs
less than its share leaves it to the other, so neither a burst of L1 events
nor an L2 backlog can starve the other (a starved L2 head would look like a
stalled producer). Counts are capped separately by max_events_per_extension
and max_l2_headers_per_extension.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from abci_app import pb
from abci_app.l1events_schema import UINT64_MAX
from abci_app.relay.codec import VoteExtension, decode_canonical, encode_message
from abci_app.relay.event_checks import is_well_formed_event
from abci_app.relay.l2_checks import (
    compute_linked_run,
    is_linked_run,
    is_well_formed_randomness,
)
from abci_app.relay.params import RelayParams
from abci_app.relay.settlement_checks import is_well_formed_settlement_signature
from abci_app.relay.types import ExtensionData
from abci_app.server.framing import encode_uvarint

# Every field of VoteExtension and AttestedEventsTx has a number below 16: a one-byte tag.
_TAG_BYTES = 1


def compute_entry_bytes(message: Any) -> int:
    """Bytes one embedded message adds to its parent's encoding (tag + length + body)."""
    size = len(encode_message(message))
    return _TAG_BYTES + len(encode_uvarint(size)) + size


def compute_event_entry_bytes(event: pb.events.L1Event) -> int:
    """Bytes one event adds to an encoded VoteExtension."""
    return compute_entry_bytes(event)


def compute_uint_entry_bytes(value: int) -> int:
    """Bytes a uint64 field adds (none when 0: proto3 omits it)."""
    return _TAG_BYTES + len(encode_uvarint(value)) if value else 0


def compute_event_window(
    events: Iterable[pb.events.L1Event], last_applied_nonce: int, limit: int, budget: int
) -> list[pb.events.L1Event]:
    """The contiguous well-formed events from last_applied_nonce + 1, within count and bytes."""
    chosen: list[pb.events.L1Event] = []
    size, expected = 0, last_applied_nonce + 1
    for event in sorted(events, key=lambda event: int(event.nonce)):
        if event.nonce < expected:
            continue  # already applied, or a duplicate of one just taken
        if event.nonce != expected or not is_well_formed_event(event):
            break
        entry = compute_event_entry_bytes(event)
        if len(chosen) >= limit or size + entry > budget:
            break
        chosen.append(event)
        size += entry
        expected += 1
    return chosen


def _fit_headers(headers: Sequence[pb.l2.L2Header], budget: int) -> list[pb.l2.L2Header]:
    chosen: list[pb.l2.L2Header] = []
    size = 0
    for header in headers:
        entry = compute_entry_bytes(header)
        if size + entry > budget:
            break
        chosen.append(header)
        size += entry
    return chosen


def build_extension(
    events: Iterable[pb.events.L1Event], last_applied_nonce: int, params: RelayParams, *,
    l2_headers: Iterable[pb.l2.L2Header] = (), l2_head: tuple[int, bytes] | None = None,
    randomness: pb.l2.L1Randomness | None = None, seed_request: int = 0,
    l1_confirmed_height: int = 0,
    settlement_signature: pb.relay.SettlementSignature | None = None,
) -> bytes:
    """Our extension from the sidecar's view; empty bytes when there is nothing to report.

    Headers are taken only with an L2 registered (`l2_head` not None), from
    l2_head + 1 while they link; the randomness only when it is for
    `seed_request`; the settlement signature only when well formed. See the
    module docstring for how the bytes are shared.
    """
    signed = (settlement_signature if settlement_signature is not None
              and is_well_formed_settlement_signature(settlement_signature) else None)
    seed = (randomness if randomness is not None and seed_request > 0
            and int(randomness.l1_height) == seed_request
            and is_well_formed_randomness(randomness) else None)
    height = min(max(l1_confirmed_height, 0), UINT64_MAX)
    budget = params.max_extension_bytes - compute_uint_entry_bytes(height)
    if seed is not None:
        budget -= compute_entry_bytes(seed)
    if signed is not None:
        budget -= compute_entry_bytes(signed)
    run = ([] if l2_head is None
           else compute_linked_run(list(l2_headers), l2_head, params.max_l2_headers_per_extension))
    headers = _fit_headers(run, budget // 2)
    chosen = compute_event_window(events, last_applied_nonce, params.max_events_per_extension,
                                  budget - sum(compute_entry_bytes(h) for h in headers))
    # What the events left unused goes to further headers.
    headers = _fit_headers(run, budget - sum(compute_event_entry_bytes(e) for e in chosen))
    message = VoteExtension(events=chosen, l2_headers=headers, l1_confirmed_height=height)
    if seed is not None:
        message.seed_randomness.CopyFrom(seed)
    if signed is not None:
        message.settlement_signature.CopyFrom(signed)
    return encode_message(message)


def _is_event_window(events: Sequence[pb.events.L1Event], params: RelayParams) -> bool:
    if len(events) > params.max_events_per_extension:
        return False
    if not all(is_well_formed_event(event) for event in events):
        return False
    if not events:
        return True
    # Nonces contiguous (which also makes them strictly increasing)
    first = int(events[0].nonce)
    if first + len(events) - 1 > UINT64_MAX:
        return False
    return all(int(event.nonce) == first + index for index, event in enumerate(events))


def decode_extension(data: bytes, params: RelayParams) -> ExtensionData | None:
    """The extension's content (all empty for empty bytes), or None when malformed.

    Malformed: over the byte or a count cap, not canonically encoded, nonces not
    contiguous, any event or header with a bad shape, header heights not
    contiguous or a header whose parent is not the previous one's hash, or
    randomness without a height or with a mix hash that is not 32 bytes, or a
    settlement signature without a batch nonce or not 65 bytes.
    """
    # Verify the size before parsing anything
    if len(data) > params.max_extension_bytes:
        return None
    if not data:
        return ExtensionData()
    message: Any = decode_canonical(VoteExtension, data)
    if message is None:
        return None
    events: list[pb.events.L1Event] = list(message.events)
    headers: list[pb.l2.L2Header] = list(message.l2_headers)
    # Verify each part's shape, count and order
    if not _is_event_window(events, params):
        return None
    if len(headers) > params.max_l2_headers_per_extension or not is_linked_run(headers):
        return None
    seed = message.seed_randomness if message.HasField("seed_randomness") else None
    if seed is not None and not is_well_formed_randomness(seed):
        return None
    signed = message.settlement_signature if message.HasField("settlement_signature") else None
    if signed is not None and not is_well_formed_settlement_signature(signed):
        return None
    return ExtensionData(events=tuple(events), l2_headers=tuple(headers),
                         seed_randomness=seed, l1_confirmed_height=int(message.l1_confirmed_height),
                         settlement_signature=signed)


def verify_extension(data: bytes, params: RelayParams) -> bool:
    """VerifyVoteExtension's rule: accept empty or well-formed; never consult our sidecar."""
    try:
        return decode_extension(data, params) is not None
    except Exception:  # a bug must not turn into a crash in consensus
        return False
