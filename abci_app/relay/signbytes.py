"""What a validator's ed25519 consensus key signs for its vote extension.

CometBFT's types.VoteExtensionSignBytes: the uvarint-length-delimited
protobuf encoding of CanonicalVoteExtension{extension, height, round,
chain_id}, with height and round as sfixed64.

A height's extension signatures are checked by PrepareProposal (pruning),
ProcessProposal and FinalizeBlock (verifying the attested tx). Verification is
a pure function of its inputs, so a bounded cache of the answers, keyed by all
of them (the extension by its sha256), checks each signature once per height
and cannot affect determinism.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from abci_app import pb
from abci_app.server.framing import encode_uvarint

ED25519_PUBKEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
# Enough for several heights of a large validator set; the oldest answers go first.
SIGNATURE_CACHE_SIZE = 8192

# (height, round, chain id, pub key, sha256(extension), signature) -> valid
_CacheKey = tuple[int, int, str, bytes, bytes, bytes]
_verified: OrderedDict[_CacheKey, bool] = OrderedDict()
_verified_lock = threading.Lock()
# CanonicalVoteExtension's field 1 (extension, length-delimited): its one-byte tag.
_EXTENSION_TAG = b"\x0a"


def compute_vote_extension_sign_bytes(
    extension: bytes, height: int, round: int, chain_id: str
) -> bytes:
    """The exact bytes CometBFT signs for a precommit's extension at (height, round).

    Fields serialize in number order and field 1 is the extension, so the body
    is the extension's entry (absent when empty, as proto3 omits it) followed by
    the encoding of the other fields, which is shared by a whole height.
    """
    body = _compute_sign_bytes_suffix(height, round, chain_id)
    if extension:
        body = _EXTENSION_TAG + encode_uvarint(len(extension)) + extension + body
    # protoio.MarshalDelimited: the same uvarint length prefix as an ABCI frame
    return encode_uvarint(len(body)) + body


@lru_cache(maxsize=64)
def _compute_sign_bytes_suffix(height: int, round: int, chain_id: str) -> bytes:
    """CanonicalVoteExtension{height, round, chain_id} without the extension."""
    canonical = pb.canonical.CanonicalVoteExtension(height=height, round=round,
                                                    chain_id=chain_id)
    body: bytes = canonical.SerializeToString(deterministic=True)
    return body


def verify_extension_signature(
    pub_key: bytes, signature: bytes, extension: bytes, height: int, round: int, chain_id: str
) -> bool:
    """True when `signature` is pub_key's ed25519 signature of the sign bytes. Never raises.

    Each distinct check runs once while its answer stays in the cache.
    """
    return verify_extension_signatures([(pub_key, signature, extension)], height, round,
                                       chain_id)[0]


def verify_extension_signatures(
    checks: Sequence[tuple[bytes, bytes, bytes]], height: int, round: int, chain_id: str
) -> list[bool]:
    """verify_extension_signature of each (pub_key, signature, extension), in order.

    A commit's validators mostly carry the same extension: each distinct one is
    hashed once for the cache key, and the cache is consulted under one lock.
    """
    digests: dict[bytes, bytes] = {}
    keys: list[_CacheKey | None] = []
    for pub_key, signature, raw in checks:
        extension = bytes(raw)
        if len(pub_key) != ED25519_PUBKEY_BYTES or len(signature) != ED25519_SIGNATURE_BYTES:
            keys.append(None)
            continue
        digest = digests.get(extension)
        if digest is None:
            digest = digests[extension] = hashlib.sha256(extension).digest()
        keys.append((height, round, chain_id, bytes(pub_key), digest, bytes(signature)))
    answers = _lookup(keys)
    # The sign bytes depend on the extension, not the signer: build them once each.
    messages: dict[bytes, bytes | None] = {}
    fresh: dict[_CacheKey, bool] = {}
    results: list[bool] = []
    for (_, _, raw), key, answer in zip(checks, keys, answers, strict=True):
        if key is None:
            results.append(False)
            continue
        if answer is None:
            answer = fresh.get(key)  # the same check twice in one batch
        if answer is None:
            extension = bytes(raw)
            if extension not in messages:
                messages[extension] = _compute_sign_bytes_or_none(extension, height, round,
                                                                  chain_id)
            answer = fresh[key] = _check_extension_signature(
                key[3], key[5], extension, height, round, chain_id, messages[extension])
        results.append(answer)
    _remember(fresh)
    return results


def _lookup(keys: Sequence[_CacheKey | None]) -> list[bool | None]:
    """The cached answer for each key (None: not cached), each hit made the newest."""
    answers: list[bool | None] = []
    with _verified_lock:
        for key in keys:
            answer = None if key is None else _verified.get(key)
            if key is not None and answer is not None:
                _verified.move_to_end(key)
            answers.append(answer)
    return answers


def _remember(fresh: dict[_CacheKey, bool]) -> None:
    if not fresh:
        return
    with _verified_lock:
        _verified.update(fresh)
        while len(_verified) > SIGNATURE_CACHE_SIZE:
            _verified.popitem(last=False)


def _compute_sign_bytes_or_none(
    extension: bytes, height: int, round: int, chain_id: str
) -> bytes | None:
    try:
        return compute_vote_extension_sign_bytes(extension, height, round, chain_id)
    except Exception:  # out-of-range height or round: _check_extension_signature says False
        return None


def _check_extension_signature(
    pub_key: bytes, signature: bytes, extension: bytes, height: int, round: int, chain_id: str,
    message: bytes | None = None,
) -> bool:
    """One ed25519 check; `message`, when given, is the sign bytes already built."""
    try:
        if message is None:
            message = compute_vote_extension_sign_bytes(extension, height, round, chain_id)
        # What VerifyKey(pub_key).verify does, minus its per-call wrapping
        crypto_sign_open(bytes(signature) + message, bytes(pub_key))
    except (BadSignatureError, ValueError, TypeError):
        return False
    except Exception:  # libsodium rejects some keys with other errors; still "invalid"
        return False
    return True


def clear_extension_signature_cache() -> None:
    with _verified_lock:
        _verified.clear()
