"""Raw logs to L1Event: every event kind, and every way a log can be malformed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from abci_app.l1.decode import (
    EVENT_DATA_TYPES,
    EVENT_SIGNATURES,
    LogDecodeError,
    decode_log,
    get_event_kind,
)
from abci_app.l1.source import RawLog
from tests.unit.l1.fake_l1 import encode_log, make_hash, sample_values

LOCKING_ABI = Path(__file__).resolve().parents[3] / "contracts" / "build" / "Locking.abi"
BLOCK_HASH = make_hash("block")


def make_log(name: str, nonce: int = 3, sequencer_id: int = 9) -> RawLog:
    return encode_log(name, nonce, sequencer_id, sample_values(name), 42, BLOCK_HASH, 5)


@pytest.mark.skipif(not LOCKING_ABI.exists(), reason="contracts not compiled")
def test_event_signatures_match_the_compiled_contract() -> None:
    abi = json.loads(LOCKING_ABI.read_text())
    compiled = {
        e["name"]: f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
        for e in abi if e["type"] == "event" and e["name"] in EVENT_SIGNATURES
    }
    indexed = {
        e["name"]: [i["name"] for i in e["inputs"] if i["indexed"]]
        for e in abi if e["type"] == "event" and e["name"] in EVENT_SIGNATURES
    }
    assert compiled == EVENT_SIGNATURES
    assert all(names == ["eventNonce", "sequencerId"] for names in indexed.values())


def test_locked_log_decodes_every_field() -> None:
    event = decode_log(make_log("Locked"))
    assert (event.nonce, event.l1_block_number, event.log_index) == (3, 42, 5)
    assert event.l1_block_hash == BLOCK_HASH and len(event.l1_tx_hash) == 32
    assert event.locked.sequencer_id == 9
    assert event.locked.owner == b"\x11" * 20 and event.locked.signer == b"\x22" * 20
    assert event.locked.consensus_pubkey == b"\x07" * 32
    assert event.locked.amount_wei == "1000000000000000000"


@pytest.mark.parametrize("name,kind", [
    ("Locked", "locked"), ("LockIncreased", "lock_increased"),
    ("SignerChanged", "signer_changed"), ("WithdrawalRequested", "withdrawal_requested"),
    ("UnlockInitiated", "unlock_initiated"), ("Released", "released"),
    ("RewardsClaimed", "rewards_claimed"), ("BatchSettled", "batch_settled"),
])  # fmt: skip
def test_each_event_maps_to_its_oneof(name: str, kind: str) -> None:
    event = decode_log(make_log(name))
    assert get_event_kind(event) == kind
    assert getattr(event, kind).sequencer_id == 9


def test_batch_settled_log_decodes_nonce_and_digest() -> None:
    log = encode_log("BatchSettled", 12, 0, (7, b"\x09" * 32), 42, BLOCK_HASH, 5)
    event = decode_log(log)
    assert event.nonce == 12 and event.batch_settled.sequencer_id == 0
    assert event.batch_settled.batch_nonce == "7"
    assert event.batch_settled.digest == b"\x09" * 32


def test_amounts_are_canonical_decimal_strings_up_to_uint256() -> None:
    raw = encode_log("LockIncreased", 1, 1, (0, 2**256 - 1), 1, BLOCK_HASH, 0)
    event = decode_log(raw)
    assert event.lock_increased.amount_wei == "0"
    assert event.lock_increased.new_total_wei == str(2**256 - 1)


def test_invalid_unknown_topic0_is_rejected() -> None:
    raw = make_log("Locked")
    with pytest.raises(LogDecodeError, match="unknown topic0"):
        decode_log(replace(raw, topics=(b"\x01" * 32, *raw.topics[1:])))


def test_invalid_missing_topics_are_rejected() -> None:
    raw = make_log("Released")
    with pytest.raises(LogDecodeError):
        decode_log(replace(raw, topics=()))
    with pytest.raises(LogDecodeError, match="topics"):
        decode_log(replace(raw, topics=raw.topics[:2]))


def test_invalid_nonce_above_uint64_is_rejected() -> None:
    raw = make_log("Released")
    topics = (raw.topics[0], (2**64).to_bytes(32, "big"), raw.topics[2])
    with pytest.raises(LogDecodeError, match="uint64"):
        decode_log(replace(raw, topics=topics))


def test_invalid_zero_nonce_is_rejected() -> None:
    with pytest.raises(LogDecodeError, match="eventNonce 0"):
        decode_log(make_log("Released", nonce=0))


@pytest.mark.parametrize("name", sorted(EVENT_DATA_TYPES))
def test_invalid_short_or_long_data_is_rejected(name: str) -> None:
    raw = make_log(name)
    with pytest.raises(LogDecodeError):
        decode_log(replace(raw, data=raw.data[:-1]))
    with pytest.raises(LogDecodeError):
        decode_log(replace(raw, data=raw.data + b"\x00" * 32))


def test_invalid_address_with_dirty_padding_is_rejected() -> None:
    raw = make_log("Released")
    data = b"\xff" + raw.data[1:]
    with pytest.raises(LogDecodeError, match="does not decode"):
        decode_log(replace(raw, data=data))
