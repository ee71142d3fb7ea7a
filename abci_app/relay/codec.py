"""Canonical protobuf encoding for what validators sign and compare.

Two encodings of the same message must not both be accepted: byte-identity
is how votes agree, so a decoder here accepts only bytes that re-encode to
themselves (no unknown fields, no duplicated or reordered fields).
"""

from typing import Any, TypeVar

from abci_app import pb

relay_pb2: Any = pb.relay

M = TypeVar("M")

VoteExtension: Any = relay_pb2.VoteExtension
AttestedEventsTx: Any = relay_pb2.AttestedEventsTx


def encode_message(message: Any) -> bytes:
    """Deterministic serialization: the bytes that votes compare."""
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def decode_canonical(message_cls: type[M], data: bytes) -> M | None:
    """`data` parsed as `message_cls`, or None unless it is the canonical encoding."""
    message: Any = message_cls()
    try:
        message.ParseFromString(data)
        message.DiscardUnknownFields()
        if encode_message(message) != data:
            return None
    except Exception:  # attacker bytes: any parser failure means "malformed"
        return None
    result: M = message
    return result
