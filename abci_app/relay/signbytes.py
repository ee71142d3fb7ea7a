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

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

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


def compute_vote_extension_sign_bytes(
    extension: bytes, height: int, round: int, chain_id: str
) -> bytes:
    """The exact bytes CometBFT signs for a precommit's extension at (height, round)."""
    canonical = pb.canonical.CanonicalVoteExtension(
        extension=extension, height=height, round=round, chain_id=chain_id)
    body: bytes = canonical.SerializeToString(deterministic=True)
    # protoio.MarshalDelimited: the same uvarint length prefix as an ABCI frame
    return encode_uvarint(len(body)) + body


def verify_extension_signature(
    pub_key: bytes, signature: bytes, extension: bytes, height: int, round: int, chain_id: str
) -> bool:
    """True when `signature` is pub_key's ed25519 signature of the sign bytes. Never raises.

    Each distinct check runs once while its answer stays in the cache.
    """
    if len(pub_key) != ED25519_PUBKEY_BYTES or len(signature) != ED25519_SIGNATURE_BYTES:
        return False
    key = (height, round, chain_id, bytes(pub_key), hashlib.sha256(extension).digest(),
           bytes(signature))
    with _verified_lock:
        cached = _verified.get(key)
        if cached is not None:
            _verified.move_to_end(key)
            return cached
    valid = _check_extension_signature(pub_key, signature, extension, height, round, chain_id)
    with _verified_lock:
        _verified[key] = valid
        if len(_verified) > SIGNATURE_CACHE_SIZE:
            _verified.popitem(last=False)
    return valid


def _check_extension_signature(
    pub_key: bytes, signature: bytes, extension: bytes, height: int, round: int, chain_id: str
) -> bool:
    try:
        message = compute_vote_extension_sign_bytes(extension, height, round, chain_id)
        VerifyKey(pub_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    except Exception:  # libsodium rejects some keys with other errors; still "invalid"
        return False
    return True


def clear_extension_signature_cache() -> None:
    with _verified_lock:
        _verified.clear()
