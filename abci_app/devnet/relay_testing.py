"""Helpers for tests that craft vote extensions and attested-events proposals.

Deterministic ed25519 keys, signed extended commits in CometBFT's shape, and
the CommitInfo that CometBFT would hand ProcessProposal for the same votes.
Used by the relay's unit tests and by integration tests against a live app.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey

from abci_app import pb
from abci_app.relay.attested_tx import ATTESTED_TX_PREFIX
from abci_app.relay.codec import AttestedEventsTx, encode_message
from abci_app.relay.signbytes import compute_vote_extension_sign_bytes
from abci_app.settlement import sign_digest
from abci_app.valset import ValidatorEntry, compute_consensus_address

BLOCK_ID_FLAG_ABSENT = pb.validator.BLOCK_ID_FLAG_ABSENT
BLOCK_ID_FLAG_COMMIT = pb.validator.BLOCK_ID_FLAG_COMMIT
BLOCK_ID_FLAG_NIL = pb.validator.BLOCK_ID_FLAG_NIL


@dataclass(frozen=True)
class LocalValidator:
    key: SigningKey
    entry: ValidatorEntry


def make_validators(powers: Sequence[int], label: str = "seqset-test") -> list[LocalValidator]:
    """One validator per power, with keys derived from `label` and the index."""
    validators: list[LocalValidator] = []
    for index, power in enumerate(powers):
        key = SigningKey(hashlib.sha256(f"{label}/{index}".encode()).digest())
        pub_key = bytes(key.verify_key)
        entry = ValidatorEntry(address=compute_consensus_address(pub_key), pub_key=pub_key,
                               power=power, sequencer_id=index + 1)
        validators.append(LocalValidator(key=key, entry=entry))
    return validators


def sign_extension(
    key: SigningKey, extension: bytes, height: int, round: int, chain_id: str
) -> bytes:
    """The extension signature CometBFT's privval would produce."""
    message = compute_vote_extension_sign_bytes(extension, height, round, chain_id)
    return bytes(key.sign(message).signature)


def make_extended_commit(
    validators: Sequence[LocalValidator], extensions: Mapping[int, bytes], height: int,
    chain_id: str, round: int = 0, flags: Mapping[int, int] | None = None,
) -> Any:
    """An ExtendedCommitInfo for `height`, votes in the order of `validators`.

    `extensions` maps a validator's index to its extension bytes (missing means
    empty); `flags` overrides the default COMMIT flag per index. Commit votes
    are signed, as CometBFT signs even an empty extension; other votes carry none.
    """
    commit = pb.abci.ExtendedCommitInfo(round=round)
    for index, validator in enumerate(validators):
        flag = (flags or {}).get(index, BLOCK_ID_FLAG_COMMIT)
        vote = commit.votes.add(block_id_flag=flag)
        vote.validator.address = validator.entry.address
        vote.validator.power = validator.entry.power
        if flag == BLOCK_ID_FLAG_COMMIT:
            extension = extensions.get(index, b"")
            vote.vote_extension = extension
            vote.extension_signature = sign_extension(validator.key, extension, height, round,
                                                      chain_id)
    return commit


def compute_commit_info(extended_commit: Any) -> Any:
    """The CommitInfo (no extensions) CometBFT gives ProcessProposal for the same votes."""
    commit = pb.abci.CommitInfo(round=extended_commit.round)
    for vote in extended_commit.votes:
        info = commit.votes.add(block_id_flag=vote.block_id_flag)
        info.validator.CopyFrom(vote.validator)
    return commit


def make_event(nonce: int, amount_wei: int = 10**18, sequencer_id: int = 1) -> Any:
    """A well-formed LockIncreased event at `nonce`, with hashes derived from it."""
    digest = hashlib.sha256(nonce.to_bytes(8, "big")).digest()
    return pb.events.L1Event(
        nonce=nonce, l1_block_number=100 + nonce, l1_block_hash=digest,
        l1_tx_hash=hashlib.sha256(digest).digest(), log_index=nonce % 7,
        lock_increased=pb.events.LockIncreased(
            sequencer_id=sequencer_id, amount_wei=str(amount_wei),
            new_total_wei=str(amount_wei * 2)))


def get_valset(validators: Sequence[LocalValidator]) -> list[ValidatorEntry]:
    return [validator.entry for validator in validators]


def make_attested_tx(
    extended_commit: Any, events: Sequence[Any], l2_headers: Sequence[Any] = (),
    seed_randomness: Any | None = None, l1_confirmed_height: int = 0,
    settlement_signatures: Sequence[Any] = (),
) -> bytes:
    """An attested-events tx carrying exactly this commit and these parts, however wrong.

    For crafting malicious proposals; honest proposers use build_attested_tx.
    `settlement_signatures` are pb.relay.SettlementSignature messages.
    """
    body = AttestedEventsTx(extended_commit_info=encode_message(extended_commit),
                            events=list(events), l2_headers=list(l2_headers),
                            l1_confirmed_height=l1_confirmed_height,
                            settlement_signatures=list(settlement_signatures))
    if seed_randomness is not None:
        body.seed_randomness.CopyFrom(seed_randomness)
    return ATTESTED_TX_PREFIX + encode_message(body)


def make_l2_genesis_hash(label: str = "seqset-test/l2") -> bytes:
    return hashlib.sha256(f"{label}/genesis".encode()).digest()


def make_l2_headers(
    first_height: int, count: int, parent_hash: bytes, producer: bytes = b"\x11" * 20,
    label: str = "seqset-test/l2",
) -> list[Any]:
    """`count` linked L2 headers from `first_height`, the first child of `parent_hash`.

    Hashes derive from `label`, the height and the parent: another label gives a fork.
    """
    headers: list[Any] = []
    parent = parent_hash
    for height in range(first_height, first_height + count):
        digest = hashlib.sha256(f"{label}/{height}".encode() + parent).digest()
        headers.append(pb.l2.L2Header(height=height, hash=digest, parent_hash=parent,
                                      producer=producer))
        parent = digest
    return headers


def make_randomness(l1_height: int, label: str = "seqset-test/l1") -> Any:
    """A well-formed L1Randomness for `l1_height`."""
    mix_hash = hashlib.sha256(f"{label}/{l1_height}".encode()).digest()
    return pb.l2.L1Randomness(l1_height=l1_height, mix_hash=mix_hash)


def make_settlement_key(index: int, label: str = "seqset-test/settlement") -> bytes:
    """A deterministic secp256k1 private key (a sequencer's L1 signer key) for tests."""
    return hashlib.sha256(f"{label}/{index}".encode()).digest()


def make_settlement_signature(digest: bytes, key: bytes, batch_nonce: int) -> Any:
    """The pb.relay.SettlementSignature an honest validator's ExtendVote carries."""
    signed = sign_digest(digest, key)
    return pb.relay.SettlementSignature(batch_nonce=batch_nonce,
                                        signature=signed.r + signed.s + bytes([signed.v]))
