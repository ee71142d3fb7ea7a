"""A CometBFT validator as the app sees it, shared by the chain and the relay."""

import hashlib
from dataclasses import dataclass


def compute_consensus_address(pub_key: bytes) -> bytes:
    """CometBFT's ed25519 address: the first 20 bytes of sha256(pubkey)."""
    return hashlib.sha256(pub_key).digest()[:20]


@dataclass(frozen=True, slots=True)
class ValidatorEntry:
    """One member of the validator set that signs at a given height."""

    address: bytes  # 20 bytes, compute_consensus_address(pub_key)
    pub_key: bytes  # 32-byte ed25519 key
    power: int
    sequencer_id: int
