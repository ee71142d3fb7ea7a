"""What a validator's ed25519 consensus key signs for its vote extension.

CometBFT's types.VoteExtensionSignBytes: the uvarint-length-delimited
protobuf encoding of CanonicalVoteExtension{extension, height, round,
chain_id}, with height and round as sfixed64.
"""

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from abci_app import pb
from abci_app.server.framing import encode_uvarint

ED25519_PUBKEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64


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
    """True when `signature` is pub_key's ed25519 signature of the sign bytes. Never raises."""
    if len(pub_key) != ED25519_PUBKEY_BYTES or len(signature) != ED25519_SIGNATURE_BYTES:
        return False
    try:
        message = compute_vote_extension_sign_bytes(extension, height, round, chain_id)
        VerifyKey(pub_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    except Exception:  # libsodium rejects some keys with other errors; still "invalid"
        return False
    return True
