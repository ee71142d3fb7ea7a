"""The injected transaction that carries attested L1 events into a block.

The proposer of H puts it first: the pruned extended commit for H-1 plus the
events more than 2/3 attested. ProcessProposal only has `proposed_last_commit`
(no extensions), so every node checks the carried commit against it field by
field, re-verifies each signature, and recomputes the events itself.
"""

from collections.abc import Sequence
from typing import Any

from abci_app import pb
from abci_app.errors import InvalidAttestedTx
from abci_app.l1events_schema import ATTESTED_TX_PREFIX
from abci_app.relay.codec import AttestedEventsTx, decode_canonical, encode_message
from abci_app.relay.extension import compute_event_entry_bytes
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import (
    ExtendedCommitInfo,
    is_commit_matching_valset,
    is_vote_extension_valid,
    tally_events,
)
from abci_app.server.framing import encode_uvarint
from abci_app.valset import ValidatorEntry

# Tag byte of AttestedEventsTx.extended_commit_info (field 1, length-delimited).
_COMMIT_TAG_BYTES = 1


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


def build_attested_tx(
    pruned_commit: Any, events: Sequence[pb.events.L1Event], params: RelayParams
) -> bytes | None:
    """ATTESTED_TX_PREFIX + AttestedEventsTx, dropping trailing events to fit the cap.

    The commit is never cut: every node compares it with its own. Returns None
    when there are no events, or when not even one event fits.
    """
    commit_bytes = encode_message(pruned_commit)
    size = (len(ATTESTED_TX_PREFIX) + _COMMIT_TAG_BYTES
            + len(encode_uvarint(len(commit_bytes))) + len(commit_bytes))
    count = 0
    for event in events:
        entry = compute_event_entry_bytes(event)  # field 2 also has a one-byte tag
        if size + entry > params.max_attested_tx_bytes:
            break
        size += entry
        count += 1
    if count == 0:
        return None
    body = AttestedEventsTx(extended_commit_info=commit_bytes, events=list(events[:count]))
    return ATTESTED_TX_PREFIX + encode_message(body)


def _decode(tx: bytes, params: RelayParams) -> tuple[Any, list[pb.events.L1Event]]:
    # Verify size and envelope before parsing
    if len(tx) > params.max_attested_tx_bytes:
        raise InvalidAttestedTx(f"{len(tx)} bytes exceeds max_attested_tx_bytes "
                                f"{params.max_attested_tx_bytes}")
    body = decode_attested_tx(tx)
    if body is None:
        raise InvalidAttestedTx("not a canonical AttestedEventsTx")
    commit = decode_canonical(ExtendedCommitInfo, bytes(body.extended_commit_info))
    if commit is None:
        raise InvalidAttestedTx("extended_commit_info is not a canonical ExtendedCommitInfo")
    return commit, list(body.events)


def _verify_against_proposed(commit: Any, proposed: Any) -> None:
    """The carried commit is CometBFT's commit for H-1, plus extension data only."""
    if commit.round != proposed.round:
        raise InvalidAttestedTx(f"round {commit.round} != proposed_last_commit round "
                                f"{proposed.round}")
    if len(commit.votes) != len(proposed.votes):
        raise InvalidAttestedTx(f"{len(commit.votes)} votes != proposed_last_commit's "
                                f"{len(proposed.votes)}")
    for index, (ours, theirs) in enumerate(zip(commit.votes, proposed.votes, strict=True)):
        if bytes(ours.validator.address) != bytes(theirs.validator.address):
            raise InvalidAttestedTx(f"vote {index}: validator address differs")
        if ours.validator.power != theirs.validator.power:
            raise InvalidAttestedTx(f"vote {index}: power {ours.validator.power} != "
                                    f"{theirs.validator.power}")
        if ours.block_id_flag != theirs.block_id_flag:
            raise InvalidAttestedTx(f"vote {index}: block_id_flag {ours.block_id_flag} != "
                                    f"{theirs.block_id_flag}")


def _verify_extensions(
    commit: Any, valset: Sequence[ValidatorEntry], height_voted: int, chain_id: str,
    params: RelayParams,
) -> None:
    keys = {entry.address: entry.pub_key for entry in valset}
    for index, vote in enumerate(commit.votes):
        pub_key = keys.get(bytes(vote.validator.address))
        if not is_vote_extension_valid(vote, pub_key, height_voted, commit.round, chain_id,
                                       params):
            raise InvalidAttestedTx(f"vote {index}: invalid extension or extension signature")


def _verify_events(
    claimed: list[pb.events.L1Event], attested: list[pb.events.L1Event]
) -> None:
    """The claimed events are a non-empty prefix of what the votes attest, byte for byte."""
    if not claimed:
        raise InvalidAttestedTx("no events: an empty attested-events tx is not allowed")
    if len(claimed) > len(attested):
        raise InvalidAttestedTx(f"{len(claimed)} events claimed, only {len(attested)} attested")
    for index, (event, expected) in enumerate(zip(claimed, attested, strict=False)):
        if encode_message(event) != encode_message(expected):
            raise InvalidAttestedTx(f"event {index} (nonce {event.nonce}) is not the attested "
                                    f"event at nonce {expected.nonce}")


def verify_attested_tx(
    tx: bytes, proposed_last_commit: Any, valset: Sequence[ValidatorEntry], height: int,
    chain_id: str, last_applied_nonce: int, params: RelayParams,
) -> list[pb.events.L1Event]:
    """The events `tx` may apply at `height`, or InvalidAttestedTx naming the first problem.

    `valset` is our stored set for height - 1. Checks, in order: size and
    canonical encoding; the commit against proposed_last_commit (round, count,
    addresses, powers, flags, order); the commit against `valset` (each member
    exactly once, our power); every extension signature and form; the events
    against our own tally. Any other exception is a bug and propagates: the
    caller's policy decides (ProcessProposal rejects, FinalizeBlock halts).
    """
    commit, claimed = _decode(tx, params)
    # Verify the commit is CometBFT's, then that it is the set we stored
    _verify_against_proposed(commit, proposed_last_commit)
    if not is_commit_matching_valset(list(commit.votes), valset):
        raise InvalidAttestedTx("votes do not match the stored validator set for "
                                f"height {height - 1} (omitted, duplicated or wrong power)")
    # Verify every extension, then recompute the events from them
    _verify_extensions(commit, valset, height - 1, chain_id, params)
    attested = tally_events(commit, valset, last_applied_nonce, params)
    _verify_events(claimed, attested)
    return claimed


__all__ = [
    "ATTESTED_TX_PREFIX",
    "InvalidAttestedTx",
    "build_attested_tx",
    "decode_attested_tx",
    "find_misplaced_attested_tx",
    "is_attested_tx",
    "verify_attested_tx",
]
