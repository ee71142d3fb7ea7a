"""The injected transaction that carries what the votes attest into a block.

The proposer of H puts it first: the pruned extended commit for H-1 plus the
L1 events, L2 headers, seed randomness and L1 confirmed height that more than
2/3 attested (see tally.tally_attested), and the settlement signatures that
recover to their validators' stored signers (settlement_checks.py).
ProcessProposal only has `proposed_last_commit` (no extensions), so every node
checks the carried commit against it field by field, re-verifies each
signature, and recomputes the attested parts itself.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from abci_app import pb
from abci_app.errors import InvalidAttestedTx
from abci_app.l1events_schema import ATTESTED_TX_PREFIX
from abci_app.relay.codec import AttestedEventsTx, decode_canonical, encode_message
from abci_app.relay.extension import compute_entry_bytes, compute_uint_entry_bytes
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import tally_attested
from abci_app.relay.types import Attested, RelayView, SignedSettlement
from abci_app.relay.votes import (
    VoteRow,
    compute_valid_extensions,
    decode_commit_cached,
    is_rows_matching_valset,
)
from abci_app.server.framing import encode_uvarint
from abci_app.valset import ValidatorEntry

# Tag byte of AttestedEventsTx.extended_commit_info (field 1, length-delimited).
_COMMIT_TAG_BYTES = 1


def compute_bytes_entry_size(data: bytes) -> int:
    """Bytes a length-delimited field of `data` adds (tag + length + data)."""
    return _COMMIT_TAG_BYTES + len(encode_uvarint(len(data))) + len(data)


def is_attested_tx(tx: bytes) -> bool:
    return tx.startswith(ATTESTED_TX_PREFIX)


def find_misplaced_attested_tx(txs: Sequence[bytes]) -> bool:
    """True when any of `txs` (the block after its first tx) claims the reserved prefix."""
    return any(is_attested_tx(tx) for tx in txs)


def decode_attested_tx(tx: bytes) -> Any | None:
    """The AttestedEventsTx inside `tx`, or None when it is not one or is not canonical."""
    if not is_attested_tx(tx):
        return None
    return decode_canonical(AttestedEventsTx, tx[len(ATTESTED_TX_PREFIX):])


def compute_attested_fit(
    commit: Any, attested: Attested, params: RelayParams
) -> Attested | None:
    """The part of `attested` a tx carrying `commit` can hold within max_attested_tx_bytes.

    The commit is never cut: every node compares it with its own. The
    randomness and L1 height come first (under 60 bytes), then L2 headers (the
    L2 head drives the rotation), then settlement signatures, then events;
    trailing ones that do not fit are dropped. None when the fitted part would
    be empty.
    """
    size = len(ATTESTED_TX_PREFIX) + compute_bytes_entry_size(encode_message(commit))
    size += compute_uint_entry_bytes(attested.l1_confirmed_height)
    if attested.seed_randomness is not None:
        size += compute_entry_bytes(attested.seed_randomness)
    if size > params.max_attested_tx_bytes:
        return None
    cap = params.max_attested_tx_bytes
    header_count, size = _count_fitting(attested.l2_headers, size, cap)
    signature_count, size = _count_fitting(
        [to_settlement_signature(item) for item in attested.settlement_signatures], size, cap)
    event_count, size = _count_fitting(attested.events, size, cap)
    fitted = replace(attested, events=attested.events[:event_count],
                     l2_headers=attested.l2_headers[:header_count],
                     settlement_signatures=attested.settlement_signatures[:signature_count])
    return None if fitted.is_empty() else fitted


def _count_fitting(items: Sequence[Any], size: int, cap: int) -> tuple[int, int]:
    """How many leading `items` fit after `size` bytes within `cap`, and the new size."""
    for count, item in enumerate(items):
        entry = compute_entry_bytes(item)
        if size + entry > cap:
            return count, size
        size += entry
    return len(items), size


def to_settlement_signature(item: SignedSettlement) -> pb.relay.SettlementSignature:
    """The wire form: the signer is left out, every node recovers it."""
    return pb.relay.SettlementSignature(batch_nonce=item.batch_nonce, signature=item.signature)


def build_attested_tx(
    pruned_commit: Any, attested: Attested, params: RelayParams
) -> bytes | None:
    """ATTESTED_TX_PREFIX + AttestedEventsTx carrying what fits (compute_attested_fit), or None."""
    fitted = compute_attested_fit(pruned_commit, attested, params)
    if fitted is None:
        return None
    body = AttestedEventsTx(extended_commit_info=encode_message(pruned_commit),
                            events=list(fitted.events), l2_headers=list(fitted.l2_headers),
                            l1_confirmed_height=fitted.l1_confirmed_height,
                            settlement_signatures=[to_settlement_signature(item) for item
                                                   in fitted.settlement_signatures])
    if fitted.seed_randomness is not None:
        body.seed_randomness.CopyFrom(fitted.seed_randomness)
    return ATTESTED_TX_PREFIX + encode_message(body)


def decode_attested_parts(body: Any) -> Attested:
    """The attested parts an AttestedEventsTx claims (unverified).

    Settlement signatures come with an empty signer: only verification, which
    recovers it, may fill it in.
    """
    seed = body.seed_randomness if body.HasField("seed_randomness") else None
    signatures = tuple(SignedSettlement(b"", int(sig.batch_nonce), bytes(sig.signature))
                       for sig in body.settlement_signatures)
    return Attested(events=tuple(body.events), l2_headers=tuple(body.l2_headers),
                    seed_randomness=seed, l1_confirmed_height=int(body.l1_confirmed_height),
                    settlement_signatures=signatures)


def _decode(tx: bytes, params: RelayParams) -> tuple[Any, list[VoteRow], Attested]:
    # Verify size and envelope before parsing
    if len(tx) > params.max_attested_tx_bytes:
        raise InvalidAttestedTx(f"{len(tx)} bytes exceeds max_attested_tx_bytes "
                                f"{params.max_attested_tx_bytes}")
    body = decode_attested_tx(tx)
    if body is None:
        raise InvalidAttestedTx("not a canonical AttestedEventsTx")
    # ProcessProposal and FinalizeBlock decode the same bytes; the commit never
    # leaves this module, which only reads it, so the cached decoding is shared.
    decoded = decode_commit_cached(bytes(body.extended_commit_info))
    if decoded is None:
        raise InvalidAttestedTx("extended_commit_info is not a canonical ExtendedCommitInfo")
    commit, rows = decoded
    return commit, list(rows), decode_attested_parts(body)


def _verify_against_proposed(commit: Any, rows: Sequence[VoteRow], proposed: Any) -> None:
    """The carried commit is CometBFT's commit for H-1, plus extension data only."""
    if commit.round != proposed.round:
        raise InvalidAttestedTx(f"round {commit.round} != proposed_last_commit round "
                                f"{proposed.round}")
    if len(rows) != len(proposed.votes):
        raise InvalidAttestedTx(f"{len(rows)} votes != proposed_last_commit's "
                                f"{len(proposed.votes)}")
    for index, (ours, theirs) in enumerate(zip(rows, proposed.votes, strict=True)):
        if ours.address != bytes(theirs.validator.address):
            raise InvalidAttestedTx(f"vote {index}: validator address differs")
        if ours.power != theirs.validator.power:
            raise InvalidAttestedTx(f"vote {index}: power {ours.power} != "
                                    f"{theirs.validator.power}")
        if ours.block_id_flag != theirs.block_id_flag:
            raise InvalidAttestedTx(f"vote {index}: block_id_flag {ours.block_id_flag} != "
                                    f"{theirs.block_id_flag}")


def _verify_extensions(
    rows: Sequence[VoteRow], valset: Sequence[ValidatorEntry], height_voted: int, round: int,
    chain_id: str, params: RelayParams,
) -> None:
    valid = compute_valid_extensions(rows, valset, height_voted, round, chain_id, params)
    if not all(valid):
        raise InvalidAttestedTx(f"vote {valid.index(False)}: invalid extension or extension "
                                "signature")


def _verify_prefix(part: str, claimed: Sequence[Any], attested: Sequence[Any]) -> None:
    """The claimed items are a prefix of what the votes attest, byte for byte."""
    if len(claimed) > len(attested):
        raise InvalidAttestedTx(f"{len(claimed)} {part} claimed, only {len(attested)} attested")
    for index, (item, expected) in enumerate(zip(claimed, attested, strict=False)):
        if encode_message(item) != encode_message(expected):
            raise InvalidAttestedTx(f"{part} #{index} is not the attested one")


def _verify_settlement_signatures(
    claimed: Sequence[SignedSettlement], counted: Sequence[SignedSettlement]
) -> tuple[SignedSettlement, ...]:
    """Each claimed signature is one the carried commit counts; signers strictly ascending.

    Returns the counted entries (with their recovered signers) in claimed order.
    """
    by_wire = {(item.batch_nonce, item.signature): item for item in counted}
    resolved: list[SignedSettlement] = []
    for index, item in enumerate(claimed):
        match = by_wire.get((item.batch_nonce, item.signature))
        if match is None:
            raise InvalidAttestedTx(f"settlement signature #{index} for batch "
                                    f"{item.batch_nonce} is not one the votes carry validly")
        if resolved and match.signer <= resolved[-1].signer:
            raise InvalidAttestedTx(f"settlement signature #{index}: signers not strictly "
                                    "ascending (duplicated or unsorted)")
        resolved.append(match)
    return tuple(resolved)


def _verify_parts(claimed: Attested, attested: Attested) -> Attested:
    """Events and headers a prefix, randomness equal or absent, L1 height equal or 0,
    settlement signatures among those counted; returns `claimed` with signers recovered."""
    if claimed.is_empty():
        raise InvalidAttestedTx("nothing attested: an empty attested-events tx is not allowed")
    _verify_prefix("events", claimed.events, attested.events)
    _verify_prefix("L2 headers", claimed.l2_headers, attested.l2_headers)
    if claimed.seed_randomness is not None and (
            attested.seed_randomness is None or encode_message(claimed.seed_randomness)
            != encode_message(attested.seed_randomness)):
        raise InvalidAttestedTx(f"seed randomness for L1 height "
                                f"{claimed.seed_randomness.l1_height} is not attested")
    if claimed.l1_confirmed_height not in (0, attested.l1_confirmed_height):
        raise InvalidAttestedTx(f"l1_confirmed_height {claimed.l1_confirmed_height} != attested "
                                f"{attested.l1_confirmed_height}")
    signatures = _verify_settlement_signatures(claimed.settlement_signatures,
                                               attested.settlement_signatures)
    return replace(claimed, settlement_signatures=signatures)


def verify_attested_tx(
    tx: bytes, proposed_last_commit: Any, valset: Sequence[ValidatorEntry], height: int,
    chain_id: str, view: RelayView, params: RelayParams,
) -> Attested:
    """What `tx` may apply at `height`, or InvalidAttestedTx naming the first problem.

    `valset` is our stored set for height - 1; `view` is committed state.
    Checks, in order: size and canonical encoding; the commit against
    proposed_last_commit (round, count, addresses, powers, flags, order); the
    commit against `valset` (each member exactly once, our power); every
    extension signature and form; the claimed parts against our own tally of
    the carried commit (_verify_parts; settlement signatures must be ones it
    counts, with signers ascending). Any other exception is a bug and
    propagates: the caller's policy decides (ProcessProposal rejects,
    FinalizeBlock halts).
    """
    commit, rows, claimed = _decode(tx, params)
    # Verify the commit is CometBFT's, then that it is the set we stored
    _verify_against_proposed(commit, rows, proposed_last_commit)
    if not is_rows_matching_valset(rows, valset):
        raise InvalidAttestedTx("votes do not match the stored validator set for "
                                f"height {height - 1} (omitted, duplicated or wrong power)")
    # Verify every extension, then recompute what they attest
    _verify_extensions(rows, valset, height - 1, commit.round, chain_id, params)
    return _verify_parts(claimed, tally_attested(commit, valset, view, params, rows))


__all__ = [
    "ATTESTED_TX_PREFIX",
    "InvalidAttestedTx",
    "build_attested_tx",
    "compute_attested_fit",
    "decode_attested_parts",
    "decode_attested_tx",
    "find_misplaced_attested_tx",
    "is_attested_tx",
    "verify_attested_tx",
]
