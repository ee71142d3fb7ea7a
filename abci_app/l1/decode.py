"""Raw Locking-contract logs to `pb.events.L1Event`, with nothing trusted.

The seven event signatures are written out here (a test checks them against
the compiled ABI), topic0 selects the event, the two indexed uint64 topics give
the nonce and sequencer id, and eth_abi decodes the data. Anything malformed
raises `LogDecodeError`; the watcher logs it and skips the log, and the nonce
contiguity check then makes sure nothing real was skipped.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from abci_app import pb
from abci_app.l1.source import HASH_BYTES, RawLog

UINT64_LIMIT = 2**64

# name -> the types of the non-indexed fields, in order (eventNonce and sequencerId
# are the indexed topics 1 and 2 of every event).
EVENT_DATA_TYPES: dict[str, tuple[str, ...]] = {
    "Locked": ("address", "address", "bytes32", "uint256"),
    "LockIncreased": ("uint256", "uint256"),
    "SignerChanged": ("address", "address"),
    "WithdrawalRequested": ("uint256", "uint256"),
    "UnlockInitiated": ("uint256",),
    "Released": ("address", "uint256"),
    "RewardsClaimed": ("address", "uint256"),
}
EVENT_SIGNATURES: dict[str, str] = {
    name: f"{name}(uint64,uint64,{','.join(types)})" for name, types in EVENT_DATA_TYPES.items()
}
TOPIC0_BY_NAME: dict[str, bytes] = {
    name: keccak(text=sig) for name, sig in EVENT_SIGNATURES.items()
}
NAME_BY_TOPIC0: dict[bytes, str] = {topic: name for name, topic in TOPIC0_BY_NAME.items()}
# The eth_getLogs topic filter: only the seven mirrored events, in a fixed order.
EVENT_TOPICS0: list[bytes] = [TOPIC0_BY_NAME[name] for name in EVENT_DATA_TYPES]


class LogDecodeError(Exception):
    """A log from the contract that is not one of the seven events, well formed."""


def compute_amount_string(value: int) -> str:
    """Canonical decimal wei: no sign, no leading zeros, "0" for zero."""
    return str(value)


def decode_topic_uint64(topic: bytes, field: str) -> int:
    if len(topic) != HASH_BYTES:
        raise LogDecodeError(f"{field} topic has {len(topic)} bytes")
    value = int.from_bytes(topic, "big")
    if value >= UINT64_LIMIT:
        raise LogDecodeError(f"{field} topic {value} does not fit uint64")
    return value


def _address(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


def _fill_kind(
    event: pb.events.L1Event, name: str, sequencer_id: int, values: tuple[Any, ...]
) -> None:
    """Sets the oneof that matches `name` from the ABI-decoded data fields."""
    amount = compute_amount_string
    if name == "Locked":
        owner, signer, key, value = values
        event.locked.CopyFrom(pb.events.Locked(
            sequencer_id=sequencer_id, owner=_address(owner), signer=_address(signer),
            consensus_pubkey=bytes(key), amount_wei=amount(value)))
    elif name == "LockIncreased":
        event.lock_increased.CopyFrom(pb.events.LockIncreased(
            sequencer_id=sequencer_id, amount_wei=amount(values[0]),
            new_total_wei=amount(values[1])))
    elif name == "SignerChanged":
        event.signer_changed.CopyFrom(pb.events.SignerChanged(
            sequencer_id=sequencer_id, old_signer=_address(values[0]),
            new_signer=_address(values[1])))
    elif name == "WithdrawalRequested":
        event.withdrawal_requested.CopyFrom(pb.events.WithdrawalRequested(
            sequencer_id=sequencer_id, amount_wei=amount(values[0]),
            remaining_wei=amount(values[1])))
    elif name == "UnlockInitiated":
        event.unlock_initiated.CopyFrom(pb.events.UnlockInitiated(
            sequencer_id=sequencer_id, amount_wei=amount(values[0])))
    elif name == "Released":
        event.released.CopyFrom(pb.events.Released(
            sequencer_id=sequencer_id, to=_address(values[0]), amount_wei=amount(values[1])))
    else:
        event.rewards_claimed.CopyFrom(pb.events.RewardsClaimed(
            sequencer_id=sequencer_id, to=_address(values[0]), amount_wei=amount(values[1])))


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
    if log.block_number >= UINT64_LIMIT or log.log_index >= 2**32:
        raise LogDecodeError(f"{name} position {log.block_number}/{log.log_index} out of range")
    if len(log.block_hash) != HASH_BYTES or len(log.tx_hash) != HASH_BYTES:
        raise LogDecodeError(f"{name} has a malformed block or transaction hash")
    # Verify the data is exactly the ABI encoding of the fields
    types = EVENT_DATA_TYPES[name]
    if len(log.data) != 32 * len(types):
        raise LogDecodeError(f"{name} data has {len(log.data)} bytes, want {32 * len(types)}")
    try:
        values = tuple(abi_decode(list(types), log.data))
    except Exception as exc:  # noqa: BLE001 - eth_abi raises many types; all mean "malformed"
        raise LogDecodeError(f"{name} data does not decode: {exc}") from exc
    event = pb.events.L1Event(
        nonce=nonce, l1_block_number=log.block_number, l1_block_hash=log.block_hash,
        l1_tx_hash=log.tx_hash, log_index=log.log_index)
    _fill_kind(event, name, sequencer_id, values)
    return event


def get_event_kind(event: pb.events.L1Event) -> str:
    """The oneof field name set on an L1Event ("" when none)."""
    return str(event.WhichOneof("kind") or "")
