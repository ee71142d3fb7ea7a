"""Ethereum-style secp256k1 signatures for chain transactions.

Wire format: SignedTx{body, signature} (tx.proto). `body` is the deterministic
protobuf encoding of a TxBody; `signature` is 65 bytes r || s || v with v in
{0, 1} and s in the lower half of the curve order (as Ethereum since Homestead).

Signing digest:
    keccak256(b"seqset/tx/v1" || u16be(len(chain_id)) || chain_id_utf8 || body)
The chain id is also inside the body, and check_tx requires both to match, so
a signature from one chain never verifies on another.

The sender is keccak256(uncompressed_pubkey[1:])[-20:], the signer's L1 address.
"""

from functools import lru_cache

from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from abci_app.chain.messages import tx as tx_pb
from abci_app.errors import BadSignatureError
from abci_app.settlement import SIGNATURE_BYTES

TX_DOMAIN = b"seqset/tx/v1"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def compute_tx_digest(chain_id: str, body: bytes) -> bytes:
    chain = chain_id.encode()
    return bytes(keccak(TX_DOMAIN + len(chain).to_bytes(2, "big") + chain + body))


def compute_address_from_pubkey(pubkey: PublicKey) -> bytes:
    return bytes(keccak(pubkey.format(compressed=False)[1:])[-20:])


def compute_signer_address(private_key: bytes) -> bytes:
    return compute_address_from_pubkey(PrivateKey(private_key).public_key)


def sign_tx(body: tx_pb.TxBody, private_key: bytes) -> bytes:
    """Serialize `body` (a TxBody) deterministically, sign it, return SignedTx bytes."""
    body_bytes = bytes(body.SerializeToString(deterministic=True))
    digest = compute_tx_digest(body.chain_id, body_bytes)
    signature = PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    signed = tx_pb.SignedTx(body=body_bytes, signature=signature)
    return bytes(signed.SerializeToString(deterministic=True))


def check_signature_form(signature: bytes) -> None:
    """The cheap checks of a signature's shape, before any curve work."""
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignatureError(
            f"signature: expected {SIGNATURE_BYTES} bytes, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if signature[64] > 1 or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise BadSignatureError("signature: r, s or v out of range (s must be low)")


def recover_sender(chain_id: str, body: bytes, signature: bytes) -> bytes:
    """The signer's address; raises BadSignatureError for any malformed signature."""
    check_signature_form(signature)
    sender = _recover_cached(compute_tx_digest(chain_id, body), bytes(signature))
    if isinstance(sender, str):
        raise BadSignatureError(sender)
    return sender


# Recovery is a pure function of its inputs, so caching it (failures too) cannot
# affect determinism; it lets FinalizeBlock and Recheck skip the work CheckTx did,
# and a resent bad tx costs no second recovery.
@lru_cache(maxsize=65_536)
def _recover_cached(digest: bytes, signature: bytes) -> bytes | str:
    """The sender's address, or why no public key recovers."""
    try:
        pubkey = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception on failure
        return f"signature: does not recover a public key ({exc})"
    return compute_address_from_pubkey(pubkey)


def clear_signature_cache() -> None:
    _recover_cached.cache_clear()
