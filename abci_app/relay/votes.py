"""One commit's votes as the relay reads them, and which extensions may count.

A height's extended commit is checked three times (PrepareProposal prunes it,
ProcessProposal and FinalizeBlock verify the carried copy), and each check
reads every vote several times. The fields are read once into VoteRows, and
what is a pure function of an extension's bytes (its decoding, the encoding
of each item votes compare) is cached by those bytes: at 150 validators
carrying one extension, that work is done once per height, not 450 times.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from abci_app import pb
from abci_app.relay.codec import decode_canonical, encode_message
from abci_app.relay.extension import decode_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.signbytes import verify_extension_signatures
from abci_app.relay.types import ExtensionData
from abci_app.valset import ValidatorEntry

BLOCK_ID_FLAG_COMMIT = pb.validator.BLOCK_ID_FLAG_COMMIT


class VoteRow(NamedTuple):
    """The fields of one ExtendedVoteInfo that the relay reads."""

    address: bytes
    power: int
    block_id_flag: int
    extension: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class EncodedExtension:
    """A well-formed extension's content and its items as the bytes votes compare."""

    data: ExtensionData
    events: tuple[bytes, ...]
    headers: tuple[bytes, ...]
    seed: bytes | None


def compute_vote_rows(votes: Sequence[Any]) -> list[VoteRow]:
    """Each vote's fields; protobuf already hands bytes and ints out as such."""
    rows: list[VoteRow] = []
    for vote in votes:
        validator = vote.validator
        rows.append(VoteRow(validator.address, validator.power, vote.block_id_flag,
                            vote.vote_extension, vote.extension_signature))
    return rows


# Decoding and encoding are pure functions of (bytes, params), and callers only
# read the results, so caching them cannot affect determinism.
@lru_cache(maxsize=1024)
def decode_extension_cached(extension: bytes, params: RelayParams) -> ExtensionData | None:
    return decode_extension(extension, params)


@lru_cache(maxsize=1024)
def encode_extension_cached(extension: bytes, params: RelayParams) -> EncodedExtension | None:
    """The extension's content with each item encoded once, or None when malformed."""
    data = decode_extension_cached(extension, params)
    if data is None:
        return None
    seed = data.seed_randomness
    return EncodedExtension(data, tuple(encode_message(e) for e in data.events),
                            tuple(encode_message(h) for h in data.l2_headers),
                            None if seed is None else encode_message(seed))


@lru_cache(maxsize=4)
def decode_commit_cached(data: bytes) -> tuple[Any, tuple[VoteRow, ...]] | None:
    """The canonical ExtendedCommitInfo in `data` and its vote rows, or None.

    Callers must only read the commit: it is shared by every caller with the same bytes.
    """
    commit = decode_canonical(pb.abci.ExtendedCommitInfo, data)
    return None if commit is None else (commit, tuple(compute_vote_rows(commit.votes)))


def clear_decode_cache() -> None:
    """Forgets every decoded and encoded extension and commit (a bench's fresh height)."""
    decode_extension_cached.cache_clear()
    encode_extension_cached.cache_clear()
    decode_commit_cached.cache_clear()


def is_rows_matching_valset(rows: Sequence[VoteRow], valset: Sequence[ValidatorEntry]) -> bool:
    """Each validator of `valset` appears exactly once, with our power; nobody else appears."""
    ours = {entry.address: entry.power for entry in valset}
    if len(rows) != len(valset) or len(ours) != len(valset):
        return False
    seen: set[bytes] = set()
    for row in rows:
        if row.address in seen or ours.get(row.address) != row.power:
            return False
        seen.add(row.address)
    return True


def compute_valid_extensions(
    rows: Sequence[VoteRow], valset: Sequence[ValidatorEntry], height_voted: int, round: int,
    chain_id: str, params: RelayParams,
) -> list[bool]:
    """Whether each vote's extension data may be counted or relayed, in order.

    Non-commit votes carry no extension data (CometBFT's EnsureExtension). A
    commit vote with neither extension nor signature is the pruned form. Any
    other data must be signed by the validator over (height_voted, round) and
    decode as a well-formed extension.
    """
    keys = {entry.address: entry.pub_key for entry in valset}
    valid: list[bool] = []
    signed: list[int] = []  # indexes whose signature decides
    for row in rows:
        if row.block_id_flag != BLOCK_ID_FLAG_COMMIT:
            valid.append(not row.extension and not row.signature)
        elif not row.extension and not row.signature:
            valid.append(True)
        else:
            valid.append(False)
            if keys.get(row.address) is not None:
                signed.append(len(valid) - 1)
    checks = [(keys[rows[i].address], rows[i].signature, rows[i].extension) for i in signed]
    answers = verify_extension_signatures(checks, height_voted, round, chain_id)
    well_formed: dict[bytes, bool] = {}  # per distinct extension
    for index, answer in zip(signed, answers, strict=True):
        extension = rows[index].extension
        if answer and extension not in well_formed:
            well_formed[extension] = decode_extension_cached(extension, params) is not None
        valid[index] = answer and well_formed[extension]
    return valid
