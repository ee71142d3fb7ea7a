"""Raw Locking-contract logs to `pb.events.L1Event`, with nothing trusted.

The eight events come from the table in abci_app/l1events_schema.py (a test
checks it against the compiled ABI): topic0 selects the event, the two indexed
uint64 topics give the nonce and sequencer id, and eth_abi decodes the data
into the proto fields the table names. Anything malformed raises
`LogDecodeError`; the watcher logs it and skips the log, and the nonce
contiguity check then makes sure nothing real was skipped.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from abci_app import pb
from abci_app.l1.source import RawLog
from abci_app.l1events_schema import (
    ADDRESS,
    BYTES32,
    EVENT_KINDS,
    HASH_BYTES,
    KIND_BY_NAME,
    UINT64_MAX,
    EventKind,
)

# Views of the table, by contract event name.
EVENT_DATA_TYPES: dict[str, tuple[str, ...]] = {kind.name: kind.abi_types for kind in EVENT_KINDS}
EVENT_SIGNATURES: dict[str, str] = {kind.name: kind.signature for kind in EVENT_KINDS}
TOPIC0_BY_NAME: dict[str, bytes] = {
    name: keccak(text=sig) for name, sig in EVENT_SIGNATURES.items()
}
NAME_BY_TOPIC0: dict[bytes, str] = {topic: name for name, topic in TOPIC0_BY_NAME.items()}
# The eth_getLogs topic filter: only the eight mirrored events, in a fixed order.
EVENT_TOPICS0: list[bytes] = [TOPIC0_BY_NAME[kind.name] for kind in EVENT_KINDS]


class LogDecodeError(Exception):
    """A log from the contract that is not one of the eight events, well formed."""


def compute_amount_string(value: int) -> str:
    """Canonical decimal wei: no sign, no leading zeros, "0" for zero."""
    return str(value)


def decode_topic_uint64(topic: bytes, field: str) -> int:
    if len(topic) != HASH_BYTES:
        raise LogDecodeError(f"{field} topic has {len(topic)} bytes")
    value = int.from_bytes(topic, "big")
    if value > UINT64_MAX:
        raise LogDecodeError(f"{field} topic {value} does not fit uint64")
    return value


def _address(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


def compute_proto_value(abi_type: str, value: Any) -> bytes | str:
    """One ABI-decoded value as its proto field holds it: raw bytes or decimal wei."""
    if abi_type == ADDRESS:
        return _address(value)
    if abi_type == BYTES32:
        return bytes(value)
    return compute_amount_string(value)


def _fill_kind(
    event: pb.events.L1Event, kind: EventKind, sequencer_id: int, values: tuple[Any, ...]
) -> None:
    """Sets the oneof of `kind` from the ABI-decoded data fields, as the table maps them."""
    message = getattr(event, kind.oneof)
    message.SetInParent()  # the oneof is set even when every field is zero
    message.sequencer_id = sequencer_id
    for field, value in zip(kind.data, values, strict=True):
        setattr(message, field.proto_field, compute_proto_value(field.abi_type, value))


def decode_log(log: RawLog) -> pb.events.L1Event:
    """The `pb.events.L1Event` a raw log encodes, or LogDecodeError.

    Raises LogDecodeError when: topic0 is missing or unknown; there are not
    exactly three topics; a topic is not a uint64; the data is not the ABI
    encoding of the event's fields; the nonce is 0; the position does not fit.
    """
    # Verify the shape: topic0 names a known event with two indexed uint64s
    if not log.topics:
        raise LogDecodeError("log has no topics")
    name = NAME_BY_TOPIC0.get(log.topics[0])
    if name is None:
        raise LogDecodeError(f"unknown topic0 0x{log.topics[0].hex()}")
    if len(log.topics) != 3:
        raise LogDecodeError(f"{name} has {len(log.topics)} topics, want 3")
    nonce = decode_topic_uint64(log.topics[1], "eventNonce")
    sequencer_id = decode_topic_uint64(log.topics[2], "sequencerId")
    # Verify the position on L1
    if nonce == 0:
        raise LogDecodeError(f"{name} has eventNonce 0; nonces start at 1")
    if log.block_number > UINT64_MAX or log.log_index >= 2**32:
        raise LogDecodeError(f"{name} position {log.block_number}/{log.log_index} out of range")
    if len(log.block_hash) != HASH_BYTES or len(log.tx_hash) != HASH_BYTES:
        raise LogDecodeError(f"{name} has a malformed block or transaction hash")
    # Verify the data is exactly the ABI encoding of the fields
    kind = KIND_BY_NAME[name]
    types = kind.abi_types
    if len(log.data) != 32 * len(types):
        raise LogDecodeError(f"{name} data has {len(log.data)} bytes, want {32 * len(types)}")
    try:
        values = tuple(abi_decode(list(types), log.data))
    except Exception as exc:  # noqa: BLE001 - eth_abi raises many types; all mean "malformed"
        raise LogDecodeError(f"{name} data does not decode: {exc}") from exc
    event = pb.events.L1Event(
        nonce=nonce, l1_block_number=log.block_number, l1_block_hash=log.block_hash,
        l1_tx_hash=log.tx_hash, log_index=log.log_index)
    _fill_kind(event, kind, sequencer_id, values)
    return event


def get_event_kind(event: pb.events.L1Event) -> str:
    """The oneof field name set on an L1Event ("" when none)."""
    return str(event.WhichOneof("kind") or "")
