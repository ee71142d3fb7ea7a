"""Settlement signatures in vote extensions: their shape, and which ones count.

Each validator signs the digest of the chain's in-flight settlement batch with
its sequencer's L1 signer key (secp256k1) and carries it in its extension.
VerifyVoteExtension checks only the shape: a signature over another batch, or
by another key, is not a reason to reject a vote, it is simply not counted.

A signature counts when it is for the in-flight nonce, is one `Locking.settle`
would accept (v 27 or 28, 0 < r < n, low s: OpenZeppelin's ECDSA rejects a
high s, so counting one could leave a "complete" batch unsettleable), and
recovers to the stored signer of the sequencer behind the validator that
carried it. The signer is always recovered, never taken on anyone's word.
"""

from collections.abc import Sequence

from abci_app import pb
from abci_app.chain.txsign import SECP256K1_N
from abci_app.relay.types import ExtensionData, SettlementView, SignedSettlement
from abci_app.settlement import SIGNATURE_BYTES, SIGNATURE_V_OFFSET, BatchSignature, recover_signer


def is_well_formed_settlement_signature(signature: pb.relay.SettlementSignature) -> bool:
    """A batch nonce from 1 and 65 signature bytes; what they sign is not checked here."""
    return signature.batch_nonce >= 1 and len(signature.signature) == SIGNATURE_BYTES


def compute_settlement_signer(digest: bytes, signature: bytes) -> bytes | None:
    """The address whose key signed `digest`, or None unless `settle` would accept it."""
    if len(signature) != SIGNATURE_BYTES:
        return None
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    # Verify the form OpenZeppelin's ECDSA.tryRecover accepts
    if v - SIGNATURE_V_OFFSET not in (0, 1) or not 0 < r < SECP256K1_N:
        return None
    if not 0 < s <= SECP256K1_N // 2:
        return None
    return recover_signer(digest, BatchSignature(signer=b"", r=signature[:32],
                                                 s=signature[32:64], v=v))


def encode_settlement_signature(signature: BatchSignature) -> bytes:
    """r || s || v: the 65 bytes an extension carries."""
    return signature.r + signature.s + bytes([signature.v])


def tally_settlement_signatures(
    extensions: Sequence[tuple[bytes, ExtensionData]], view: SettlementView | None
) -> tuple[SignedSettlement, ...]:
    """The signatures to list, from (validator address, extension) pairs; sorted by signer.

    Kept: for view.nonce, recovering to the stored signer of that validator's
    sequencer, and from a signer the chain has not yet collected. One per signer.
    """
    if view is None:
        return ()
    kept: dict[bytes, SignedSettlement] = {}
    for address, data in extensions:
        carried = data.settlement_signature
        expected = view.signer_by_address.get(address)
        if carried is None or expected is None or int(carried.batch_nonce) != view.nonce:
            continue
        if expected in view.collected_signers or expected in kept:
            continue
        signature = bytes(carried.signature)
        if compute_settlement_signer(view.digest, signature) == expected:
            kept[expected] = SignedSettlement(expected, view.nonce, signature)
    return tuple(kept[signer] for signer in sorted(kept))
