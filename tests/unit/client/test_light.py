"""The light client on a real header, commit and validator set captured from a 2-validator
localnet (height 5), and on tampered copies that must fail."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from abci_app.client.light import (
    LightClientError,
    TrustRoot,
    compute_header_hash,
    compute_merkle_root,
    compute_validator_set_hash,
    get_validators,
    parse_validators,
    verify_commit,
    verify_header_at,
    verify_trusting,
)

FIXTURE = Path(__file__).with_name("commit_h5_two_validators.json")


@pytest.fixture
def captured() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    return doc


def parts(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    signed = doc["commit"]["signed_header"]
    return signed["header"], signed["commit"], parse_validators(doc["validators"]["validators"])


def fetcher(doc: dict[str, Any]) -> Any:
    def fetch(method: str, **params: str) -> dict[str, Any]:
        return dict(doc["commit"] if method == "commit" else doc["validators"])

    return fetch


def test_header_hash_is_the_block_id_cometbft_signed(captured: dict[str, Any]) -> None:
    header, commit, _ = parts(captured)
    assert compute_header_hash(header).hex().upper() == commit["block_id"]["hash"]


def test_validator_set_hash_is_the_headers(captured: dict[str, Any]) -> None:
    header, _, validators = parts(captured)
    assert compute_validator_set_hash(validators).hex().upper() == header["validators_hash"]


def test_real_commit_verifies(captured: dict[str, Any]) -> None:
    header, commit, validators = parts(captured)
    assert verify_commit(header, commit, validators) == compute_header_hash(header)
    verify_trusting(header, commit, validators)


def test_merkle_root_splits_at_the_largest_power_of_two() -> None:
    leaves = [bytes([i]) for i in range(3)]
    left = compute_merkle_root(leaves[:2])
    right = compute_merkle_root(leaves[2:])
    import hashlib

    assert compute_merkle_root(leaves) == hashlib.sha256(b"\x01" + left + right).digest()
    assert compute_merkle_root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("field", ["app_hash", "validators_hash", "height", "time", "chain_id"])
def test_invalid_tampered_header_is_not_the_signed_block(captured: dict[str, Any],
                                                          field: str) -> None:
    header, commit, validators = parts(captured)
    bad = copy.deepcopy(header)
    bad[field] = {"app_hash": "AB" * 32, "validators_hash": "CD" * 32, "height": "5",
                  "time": "2026-11-26T13:53:25.786949926Z", "chain_id": "other"}[field]
    if field == "height":
        bad["chain_id"] = header["chain_id"] + "x"
    with pytest.raises(LightClientError, match="is not the block id the commit signs"):
        verify_commit(bad, commit, validators)


def test_invalid_tampered_signature_fails(captured: dict[str, Any]) -> None:
    header, commit, validators = parts(captured)
    bad = copy.deepcopy(commit)
    sig = bytearray(__import__("base64").b64decode(bad["signatures"][1]["signature"]))
    sig[0] ^= 1
    bad["signatures"][1]["signature"] = __import__("base64").b64encode(bytes(sig)).decode()
    with pytest.raises(LightClientError, match="bad signature"):
        verify_commit(header, bad, validators)


def test_invalid_tampered_vote_timestamp_fails(captured: dict[str, Any]) -> None:
    header, commit, validators = parts(captured)
    bad = copy.deepcopy(commit)
    bad["signatures"][0]["timestamp"] = "2026-11-26T13:53:26.49987239Z"
    with pytest.raises(LightClientError, match="bad signature"):
        verify_commit(header, bad, validators)


def test_invalid_one_of_two_signatures_is_not_two_thirds(captured: dict[str, Any]) -> None:
    header, commit, validators = parts(captured)
    bad = copy.deepcopy(commit)
    bad["signatures"][1] = {"block_id_flag": 1, "validator_address": "", "timestamp":
                            "0001-01-01T00:00:00Z", "signature": None}
    with pytest.raises(LightClientError, match="1000 of 2000 power, need more than 2/3"):
        verify_commit(header, bad, validators)


def test_invalid_other_validator_set_is_refused(captured: dict[str, Any]) -> None:
    header, commit, validators = parts(captured)
    heavier = [type(v)(v.address, v.pub_key, v.power + 1) for v in validators]
    with pytest.raises(LightClientError, match="does not hash to validators_hash"):
        verify_commit(header, commit, heavier)


def test_invalid_listed_address_not_the_keys(captured: dict[str, Any]) -> None:
    entries = copy.deepcopy(captured["validators"]["validators"])
    entries[0]["address"] = entries[1]["address"]
    with pytest.raises(LightClientError, match="address is not its key's"):
        parse_validators(entries)


def test_trust_root_must_match_the_header_hash(captured: dict[str, Any]) -> None:
    header, _, _ = parts(captured)
    fetch = fetcher(captured)
    good = TrustRoot(5, compute_header_hash(header))
    assert verify_header_at(fetch, 5, good)["app_hash"] == header["app_hash"]
    with pytest.raises(LightClientError, match="does not hash to the trusted hash"):
        verify_header_at(fetch, 5, TrustRoot(5, bytes(32)))


def test_trusting_needs_more_than_a_third_of_the_trusted_power(
    captured: dict[str, Any],
) -> None:
    header, commit, validators = parts(captured)
    only_first = copy.deepcopy(commit)
    only_first["signatures"] = only_first["signatures"][:1]
    verify_trusting(header, only_first, validators)  # 1000 of 2000 > 1/3
    strangers = [type(v)(bytes(20), v.pub_key, v.power) for v in validators]
    with pytest.raises(LightClientError, match="need more than 1/3"):
        verify_trusting(header, commit, strangers)


@pytest.mark.parametrize("power", ["0", "-5", str(1 << 62)])
def test_invalid_power_is_refused(captured: dict[str, Any], power: str) -> None:
    entries = copy.deepcopy(captured["validators"]["validators"])
    entries[1]["voting_power"] = power
    with pytest.raises(LightClientError, match="power is not positive or the total exceeds"):
        parse_validators(entries)


def test_invalid_endless_validator_pages_stop(captured: dict[str, Any]) -> None:
    entry = captured["validators"]["validators"][0]
    calls = []

    def fetch(method: str, **params: str) -> dict[str, Any]:
        calls.append(params["page"])
        if len(calls) > 1000:
            raise AssertionError("still reading pages")
        return {"validators": [entry], "total": "1000000000"}

    with pytest.raises(LightClientError, match="more than 10000 validators"):
        get_validators(fetch, 5)
