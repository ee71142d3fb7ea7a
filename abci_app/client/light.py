"""A CometBFT v0.38 light client, enough to trust one header's app hash.

Given header H+1 and its commit (from /commit) and the validator set at H+1
(from /validators), `verify_signed_header` checks, as CometBFT does:

  1. the header hashes (types/block.go Header.Hash: the merkle root of its 14
     protobuf-encoded fields) to the block id the commit signs;
  2. the validator set hashes (types/validator_set.go Hash: the merkle root of
     each SimpleValidator{pub_key, voting_power}) to header.validators_hash;
  3. the commit's ed25519 signatures over the canonical precommit sign bytes
     (types/canonical.go, length-prefixed CanonicalVote) come from validators
     holding more than 2/3 of that set's power (VerifyCommitLight).

Trust root: without a TrustRoot the validator set is the node's, checked only
against the header. With one, header N must hash to the trusted hash, and the
set of H+1 must be header N's next set or be signed for by more than 1/3 of that
set's power (the skipping rule of light/verifier.go VerifyNonAdjacent).
Merkle trees follow crypto/merkle: leaf sha256(0x00 || item), inner
sha256(0x01 || left || right), split at the largest power of two below n.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from abci_app import pb

BLOCK_ID_FLAG_COMMIT = 2
PRECOMMIT = pb.types.SignedMsgType.SIGNED_MSG_TYPE_PRECOMMIT
ED25519_KEY_TYPE = "tendermint/PubKeyEd25519"
ADDRESS_BYTES = 20
MAX_VALIDATORS_PAGE = 100  # CometBFT's per_page ceiling on /validators
MAX_VALIDATOR_PAGES = 100  # 10,000 validators: a node claiming more is not read forever
MAX_TOTAL_VOTING_POWER = ((1 << 63) - 1) // 8  # types/validator_set.go MaxTotalVotingPower

# Fetches one RPC method's result: (method, params) -> result object.
Fetch = Callable[..., dict[str, Any]]


class LightClientError(Exception):
    """A header, commit or validator set fails verification (the message says which)."""


@dataclass(frozen=True)
class Validator:
    address: bytes
    pub_key: bytes  # ed25519, 32 bytes
    power: int


@dataclass(frozen=True)
class TrustRoot:
    """A header hash the user trusts, from a source other than the node."""

    height: int
    header_hash: bytes


# --- merkle and protobuf encoding --------------------------------------------------------


def compute_merkle_root(items: list[bytes]) -> bytes:
    """crypto/merkle HashFromByteSlices."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1 << ((len(items) - 1).bit_length() - 1)
    left, right = compute_merkle_root(items[:split]), compute_merkle_root(items[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # int64 negatives encode as ten-byte two's complement
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _wrap_bytes(value: bytes) -> bytes:
    """gogotypes.BytesValue / StringValue: field 1, omitted when empty (cdcEncode)."""
    return b"\x0a" + _varint(len(value)) + value if value else b""


def _wrap_int(value: int) -> bytes:
    """gogotypes.Int64Value: field 1, omitted when zero."""
    return b"\x08" + _varint(value) if value else b""


def _hex(text: str | None) -> bytes:
    try:
        return bytes.fromhex(text or "")
    except ValueError:
        raise LightClientError(f"not hex: {text!r}") from None


def compute_timestamp(text: str) -> bytes:
    """An RFC 3339 time (up to nanoseconds) as google.protobuf.Timestamp bytes."""
    stamp = Timestamp()
    try:
        stamp.FromJsonString(text)
    except ValueError as exc:
        raise LightClientError(f"bad time {text!r}: {exc}") from None
    return bytes(stamp.SerializeToString(deterministic=True))


def _block_id(block_id: dict[str, Any]) -> Any:
    parts = block_id.get("parts") or {}
    return pb.types.BlockID(hash=_hex(block_id.get("hash")), part_set_header=pb.types.PartSetHeader(
        total=int(parts.get("total", 0)), hash=_hex(parts.get("hash"))))


# --- hashes ----------------------------------------------------------------------------------


def compute_header_hash(header: dict[str, Any]) -> bytes:
    """types/block.go Header.Hash of a header as /commit or /header renders it."""
    version = header.get("version") or {}
    block_version, app_version = int(version.get("block", 0)), int(version.get("app", 0))
    version_bytes = (b"\x08" + _varint(block_version) if block_version else b"") + (
        b"\x10" + _varint(app_version) if app_version else b"")
    fields = [
        version_bytes,
        _wrap_bytes(str(header["chain_id"]).encode()),
        _wrap_int(int(header["height"])),
        compute_timestamp(str(header["time"])),
        bytes(_block_id(header.get("last_block_id") or {}).SerializeToString(deterministic=True)),
    ]
    for name in ("last_commit_hash", "data_hash", "validators_hash", "next_validators_hash",
                 "consensus_hash", "app_hash", "last_results_hash", "evidence_hash",
                 "proposer_address"):
        fields.append(_wrap_bytes(_hex(header.get(name))))
    return compute_merkle_root(fields)


def compute_validator_set_hash(validators: list[Validator]) -> bytes:
    """types/validator_set.go Hash, over the set in its own (CometBFT's) order."""
    return compute_merkle_root([
        bytes(pb.validator.SimpleValidator(
            pub_key=pb.crypto_keys.PublicKey(ed25519=v.pub_key), voting_power=v.power,
        ).SerializeToString(deterministic=True))
        for v in validators
    ])


def parse_validators(entries: list[dict[str, Any]]) -> list[Validator]:
    validators = []
    for entry in entries:
        key = entry.get("pub_key") or {}
        if key.get("type") != ED25519_KEY_TYPE:
            raise LightClientError(f"validator {entry.get('address')}: key type {key.get('type')!r}"
                                   f" is not {ED25519_KEY_TYPE}")
        pub_key = base64.b64decode(str(key.get("value")))
        address = hashlib.sha256(pub_key).digest()[:ADDRESS_BYTES]
        # Verify the listed address is the key's, so a signature is matched to the right power
        if address != _hex(entry.get("address")):
            raise LightClientError(f"validator {entry.get('address')}: address is not its key's")
        validators.append(Validator(address, pub_key, int(entry["voting_power"])))
    # Verify the powers are a set CometBFT could hold: each positive, the sum bounded
    if any(v.power < 1 for v in validators) or sum(
            v.power for v in validators) > MAX_TOTAL_VOTING_POWER:
        raise LightClientError("validator set: a power is not positive or the total exceeds "
                               f"{MAX_TOTAL_VOTING_POWER}")
    return validators


def compute_vote_sign_bytes(chain_id: str, commit: dict[str, Any], sig: dict[str, Any]) -> bytes:
    """types/vote.go VoteSignBytes of a commit signature for the commit's block id."""
    block_id = _block_id(commit["block_id"])
    vote = pb.canonical.CanonicalVote(
        type=PRECOMMIT, height=int(commit["height"]), round=int(commit.get("round", 0)),
        block_id=pb.canonical.CanonicalBlockID(
            hash=block_id.hash, part_set_header=pb.canonical.CanonicalPartSetHeader(
                total=block_id.part_set_header.total, hash=block_id.part_set_header.hash)),
        chain_id=chain_id)
    vote.timestamp.MergeFromString(compute_timestamp(str(sig["timestamp"])))
    body = bytes(vote.SerializeToString(deterministic=True))
    return _varint(len(body)) + body


# --- commits -------------------------------------------------------------------------------


def is_valid_signature(chain_id: str, commit: dict[str, Any], sig: dict[str, Any],
                       pub_key: bytes) -> bool:
    try:
        VerifyKey(pub_key).verify(compute_vote_sign_bytes(chain_id, commit, sig),
                                  base64.b64decode(str(sig.get("signature") or "")))
    except (BadSignatureError, ValueError):
        return False
    return True


def compute_signed_power(chain_id: str, commit: dict[str, Any], validators: list[Validator],
                         by_index: bool) -> int:
    """Power behind valid commit signatures for the block. `by_index`: signature i must
    be validator i's (VerifyCommitLight); otherwise matched by address (…Trusting)."""
    by_address = {v.address: v for v in validators}
    seen: set[bytes] = set()
    power = 0
    for index, sig in enumerate(commit.get("signatures") or []):
        if sig.get("block_id_flag") != BLOCK_ID_FLAG_COMMIT:
            continue
        address = _hex(sig.get("validator_address"))
        validator = validators[index] if by_index else by_address.get(address)
        if validator is None or validator.address != address or address in seen:
            if by_index:
                raise LightClientError(f"commit signature {index} is not validator {index}'s")
            continue
        if not is_valid_signature(chain_id, commit, sig, validator.pub_key):
            raise LightClientError(f"commit {commit.get('height')}: bad signature from "
                                   f"{address.hex().upper()}")
        seen.add(address)
        power += validator.power
    return power


def verify_commit(header: dict[str, Any], commit: dict[str, Any],
                  validators: list[Validator]) -> bytes:
    """Checks 1-3 of the module docstring; returns the header's hash."""
    height = int(header["height"])
    header_hash = compute_header_hash(header)
    # Verify the commit signs this very header
    if int(commit["height"]) != height or _block_id(commit["block_id"]).hash != header_hash:
        raise LightClientError(f"header {height}: its hash {header_hash.hex().upper()} is not the"
                               f" block id the commit signs")
    # Verify the validator set is the one the header names
    if compute_validator_set_hash(validators) != _hex(header.get("validators_hash")):
        raise LightClientError(f"header {height}: the validator set does not hash to "
                               f"validators_hash")
    if len(commit.get("signatures") or []) != len(validators):
        raise LightClientError(f"commit {height}: {len(commit.get('signatures') or [])} "
                               f"signatures for {len(validators)} validators")
    total = sum(v.power for v in validators)
    signed = compute_signed_power(str(header["chain_id"]), commit, validators, by_index=True)
    # Verify more than 2/3 of the power signed (integers: signed * 3 > total * 2)
    if signed * 3 <= total * 2:
        raise LightClientError(f"commit {height}: signatures hold {signed} of {total} power, "
                               f"need more than 2/3")
    return header_hash


def verify_trusting(header: dict[str, Any], commit: dict[str, Any],
                    trusted: list[Validator]) -> None:
    """More than 1/3 of the trusted set's power signed this commit."""
    total = sum(v.power for v in trusted)
    signed = compute_signed_power(str(header["chain_id"]), commit, trusted, by_index=False)
    if signed * 3 <= total:
        raise LightClientError(f"commit {header['height']}: the trusted set signed {signed} of "
                               f"{total} power, need more than 1/3")


# --- against a node --------------------------------------------------------------------------


def get_validators(fetch: Fetch, height: int) -> list[Validator]:
    entries: list[dict[str, Any]] = []
    for page in range(1, MAX_VALIDATOR_PAGES + 1):
        result = fetch("validators", height=str(height), page=str(page),
                       per_page=str(MAX_VALIDATORS_PAGE))
        entries += result.get("validators") or []
        if not result.get("validators") or len(entries) >= int(result.get("total", 0)):
            return parse_validators(entries)
    raise LightClientError(f"/validators?height={height}: more than "
                           f"{MAX_VALIDATOR_PAGES * MAX_VALIDATORS_PAGE} validators")


def get_signed_header(fetch: Fetch, height: int) -> tuple[dict[str, Any], dict[str, Any]]:
    signed = fetch("commit", height=str(height)).get("signed_header") or {}
    header, commit = signed.get("header"), signed.get("commit")
    if not isinstance(header, dict) or not isinstance(commit, dict):
        raise LightClientError(f"/commit?height={height}: no signed header")
    if int(header.get("height", -1)) != height:
        raise LightClientError(f"/commit?height={height}: answered header {header.get('height')}")
    return header, commit


def verify_header_at(fetch: Fetch, height: int, trust: TrustRoot | None = None
                     ) -> dict[str, Any]:
    """Header `height`, verified against its commit and (with `trust`) the trust root."""
    if trust is not None and trust.height > height:
        raise LightClientError(f"trust height {trust.height} is above the header {height}")
    header, commit = get_signed_header(fetch, height)
    validators = get_validators(fetch, height)
    verify_commit(header, commit, validators)
    if trust is None:
        return header
    trusted_header, _ = get_signed_header(fetch, trust.height)
    if compute_header_hash(trusted_header) != trust.header_hash:
        raise LightClientError(f"header {trust.height} does not hash to the trusted hash "
                               f"{trust.header_hash.hex().upper()}")
    if trusted_header["chain_id"] != header["chain_id"]:
        raise LightClientError(f"header {height} is for chain {header['chain_id']!r}, the "
                               f"trusted one for {trusted_header['chain_id']!r}")
    # The trusted set: the one header N names as next (that is, the set of N + 1)
    if _hex(trusted_header.get("next_validators_hash")) == _hex(header.get("validators_hash")):
        return header
    trusted = get_validators(fetch, trust.height + 1)
    if compute_validator_set_hash(trusted) != _hex(trusted_header.get("next_validators_hash")):
        raise LightClientError(f"the validator set of {trust.height + 1} does not hash to the "
                               f"trusted header's next_validators_hash")
    verify_trusting(header, commit, trusted)
    return header
