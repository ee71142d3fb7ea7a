"""The settlement batch: typed items, ABI encoding, the EIP-712 digest and its signatures.

Mirrors contracts/SettlementBatch.sol and `Locking.settle` exactly: the same type
strings, the same domain (name, version, chain id, contract address), the same
signer order and the same 2/3 rule. Pure functions only (no web3), so the chain
(abci_app.chain) and the L1 bindings (abci_app.l1) share one home for it; the
web3 calls that submit a batch live in `abci_app.l1.contract`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from coincurve import PrivateKey, PublicKey
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_NAME = "seqset Locking"
DOMAIN_VERSION = "1"
ADDRESS_BYTES = 20
# A recoverable secp256k1 signature r || s || v, as Ethereum and our user txs carry it.
SIGNATURE_BYTES = 65
SIGNATURE_V_OFFSET = 27  # Ethereum's v is the recovery id plus 27

DOMAIN_TYPE = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
RELEASE_TYPE = "Release(uint64 sequencerId,uint256 amount)"
SLASH_TYPE = "Slash(uint64 sequencerId,uint8 reason,uint256 fromLocked,uint256 fromPending)"
REWARD_TYPE = "Reward(uint64 sequencerId,uint256 amount)"
LOCK_PARAMS_TYPE = "LockParams(uint256 minLock,uint256 maxLock,uint64 withdrawalDelay)"
# EIP-712 encodeType: the primary type, then the referenced types sorted by name.
BATCH_TYPE = (
    "Batch(uint64 nonce,uint256 chainId,address verifyingContract,Release[] releases,"
    "Slash[] slashes,Reward[] rewards,LockParams[] lockParams)"
    + LOCK_PARAMS_TYPE + RELEASE_TYPE + REWARD_TYPE + SLASH_TYPE
)
# The calldata tuple of `Locking.settle`'s first argument.
BATCH_ABI_TYPE = (
    "(uint64,uint256,address,(uint64,uint256)[],(uint64,uint8,uint256,uint256)[],"
    "(uint64,uint256)[],(uint256,uint256,uint64)[])"
)


class SlashReason(IntEnum):
    """The reason code a Slash item carries (the chain's SlashRecord.reason)."""

    DOWNTIME = 1
    DOUBLE_SIGN = 2
    MISSED_PRODUCTION = 3  # an L2 producer fault (issue 13); the contract accepts it


SLASH_REASON_BY_NAME: dict[str, SlashReason] = {
    "downtime": SlashReason.DOWNTIME,
    "double_sign": SlashReason.DOUBLE_SIGN,
    "missed_production": SlashReason.MISSED_PRODUCTION,
}


@dataclass(frozen=True)
class Release:
    """Makes `amount_wei` of the sequencer's queued withdrawals (oldest first) claimable."""

    sequencer_id: int
    amount_wei: int


@dataclass(frozen=True)
class Slash:
    """Burns `from_pending_wei` of queued withdrawals (newest first), then `from_locked_wei`."""

    sequencer_id: int
    reason: SlashReason
    from_locked_wei: int
    from_pending_wei: int


@dataclass(frozen=True)
class Reward:
    """Credits `amount_wei` of rewards, paid from the reward pool when the owner claims."""

    sequencer_id: int
    amount_wei: int


@dataclass(frozen=True)
class LockParams:
    """A parameter change that takes effect on L1 when its batch settles."""

    min_lock_wei: int
    max_lock_wei: int
    withdrawal_delay_s: int


@dataclass(frozen=True)
class Batch:
    nonce: int  # last settled + 1
    chain_id: int  # the L1 chain id
    verifying_contract: bytes  # the Locking contract, 20 bytes
    releases: tuple[Release, ...] = ()
    slashes: tuple[Slash, ...] = ()
    rewards: tuple[Reward, ...] = ()
    lock_params: LockParams | None = None

    @property
    def item_count(self) -> int:
        return len(self.releases) + len(self.slashes) + len(self.rewards)


@dataclass(frozen=True)
class BatchSignature:
    """One signer's secp256k1 signature over a batch digest."""

    signer: bytes  # 20-byte address recovered from (r, s, v)
    r: bytes  # 32 bytes
    s: bytes  # 32 bytes
    v: int  # 27 or 28

    def to_abi(self) -> tuple[bytes, bytes, int]:
        return (self.r, self.s, self.v)


# ---------------------------------------------------------------- encoding


def compute_type_hash(type_string: str) -> bytes:
    return keccak(text=type_string)


def get_batch_abi_tuple(batch: Batch) -> tuple[Any, ...]:
    """The batch as the nested tuple web3 and eth_abi take for `settle`'s first argument."""
    params = batch.lock_params
    return (
        batch.nonce,
        batch.chain_id,
        to_checksum_address(batch.verifying_contract),
        [(r.sequencer_id, r.amount_wei) for r in batch.releases],
        [(s.sequencer_id, int(s.reason), s.from_locked_wei, s.from_pending_wei)
         for s in batch.slashes],
        [(r.sequencer_id, r.amount_wei) for r in batch.rewards],
        [] if params is None else
        [(params.min_lock_wei, params.max_lock_wei, params.withdrawal_delay_s)],
    )  # fmt: skip


def encode_batch(batch: Batch) -> bytes:
    """The ABI encoding of the batch: what a vote extension or a relayer carries."""
    return abi_encode([BATCH_ABI_TYPE], [get_batch_abi_tuple(batch)])


def decode_batch(data: bytes) -> Batch:
    """Inverse of `encode_batch`; raises eth_abi's DecodingError on malformed bytes."""
    ((nonce, chain_id, contract, releases, slashes, rewards, params),) = abi_decode(
        [BATCH_ABI_TYPE], data
    )
    if len(params) > 1:
        raise ValueError(f"a batch carries at most one LockParams, got {len(params)}")
    return Batch(
        nonce=nonce,
        chain_id=chain_id,
        verifying_contract=bytes.fromhex(contract[2:]),
        releases=tuple(Release(i, a) for i, a in releases),
        slashes=tuple(Slash(i, SlashReason(r), fl, fp) for i, r, fl, fp in slashes),
        rewards=tuple(Reward(i, a) for i, a in rewards),
        lock_params=LockParams(*params[0]) if params else None,
    )


# ---------------------------------------------------------------- EIP-712 digest


def compute_domain_separator(chain_id: int, verifying_contract: bytes) -> bytes:
    return keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [compute_type_hash(DOMAIN_TYPE), keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION),
         chain_id, verifying_contract],
    ))  # fmt: skip


def _hash_array(type_string: str, abi_types: list[str], rows: Iterable[Sequence[Any]]) -> bytes:
    type_hash = compute_type_hash(type_string)
    return keccak(b"".join(
        keccak(abi_encode(["bytes32", *abi_types], [type_hash, *row])) for row in rows
    ))  # fmt: skip


def compute_batch_struct_hash(batch: Batch) -> bytes:
    """EIP-712 hashStruct(batch), as `SettlementBatch.hash` computes it."""
    _, _, _, releases, slashes, rewards, params = get_batch_abi_tuple(batch)
    return keccak(abi_encode(
        ["bytes32", "uint64", "uint256", "address", "bytes32", "bytes32", "bytes32", "bytes32"],
        [compute_type_hash(BATCH_TYPE), batch.nonce, batch.chain_id, batch.verifying_contract,
         _hash_array(RELEASE_TYPE, ["uint64", "uint256"], releases),
         _hash_array(SLASH_TYPE, ["uint64", "uint8", "uint256", "uint256"], slashes),
         _hash_array(REWARD_TYPE, ["uint64", "uint256"], rewards),
         _hash_array(LOCK_PARAMS_TYPE, ["uint256", "uint256", "uint64"], params)],
    ))  # fmt: skip


def compute_batch_digest(batch: Batch) -> bytes:
    """The 32 bytes each validator signs: keccak(0x1901 ‖ domainSeparator ‖ hashStruct)."""
    domain = compute_domain_separator(batch.chain_id, batch.verifying_contract)
    return keccak(b"\x19\x01" + domain + compute_batch_struct_hash(batch))


# ---------------------------------------------------------------- signatures


def compute_signer_address(private_key: bytes) -> bytes:
    """The 20-byte Ethereum address of a secp256k1 private key."""
    public = PrivateKey(private_key).public_key.format(compressed=False)
    return keccak(public[1:])[-ADDRESS_BYTES:]


def sign_digest(digest: bytes, private_key: bytes) -> BatchSignature:
    """Signs a 32-byte digest as is (no prefix); libsecp256k1 always yields a low s."""
    raw = PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return BatchSignature(
        signer=compute_signer_address(private_key),
        r=raw[:32], s=raw[32:64], v=raw[64] + SIGNATURE_V_OFFSET,
    )  # fmt: skip


def recover_signer(digest: bytes, signature: BatchSignature) -> bytes | None:
    """The address that signed `digest`, or None when (r, s, v) is not a valid signature."""
    recovery_id = signature.v - SIGNATURE_V_OFFSET
    if recovery_id not in (0, 1):
        return None
    try:
        public = PublicKey.from_signature_and_message(
            signature.r + signature.s + bytes([recovery_id]), digest, hasher=None
        )
    except ValueError:
        return None
    return keccak(public.format(compressed=False)[1:])[-ADDRESS_BYTES:]


def is_signature_valid(digest: bytes, signature: BatchSignature) -> bool:
    return recover_signer(digest, signature) == signature.signer


def sort_signatures(signatures: Iterable[BatchSignature]) -> list[BatchSignature]:
    """Ascending by signer address, the order `settle` requires (duplicates are kept)."""
    return sorted(signatures, key=lambda sig: sig.signer)


# ---------------------------------------------------------------- the 2/3 rule


def is_quorum(signed_stake_wei: int, total_stake_wei: int) -> bool:
    """More than 2/3, in integers: 3 * signed > 2 * total."""
    return 3 * signed_stake_wei > 2 * total_stake_wei


def compute_signed_stake(
    stake_by_signer: Mapping[bytes, int], signers: Sequence[bytes], total_stake_wei: int
) -> tuple[int, bool]:
    """The stake `settle` counts for these (sorted) signers and whether it passes 2/3.

    Like the contract, it stops at the first signer that takes the sum past 2/3.
    """
    signed = 0
    for signer in signers:
        signed += stake_by_signer.get(signer, 0)
        if is_quorum(signed, total_stake_wei):
            return signed, True
    return signed, False
