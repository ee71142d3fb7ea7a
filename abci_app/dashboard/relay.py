"""Relay health per validator, derived from recent blocks over CometBFT's RPC.

Each block H carries the commit of H-1 (`last_commit`: who signed) and, when
the votes attested something, an injected first tx holding the pruned extended
commit of H-1 (relay/attested_tx.py): every validator's vote extension that the
proposer found valid, with what it carried. No chain state records this per
validator, so the dashboard reads the last RECENT_BLOCKS blocks and keeps a
small cache, since a committed block never changes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from abci_app import pb
from abci_app.client.rpc import NodeRpc
from abci_app.relay.attested_tx import decode_attested_tx

RECENT_BLOCKS = 10
BLOCK_ID_FLAG_COMMIT = 2  # CometBFT's BlockIDFlagCommit


@dataclass(frozen=True)
class CarriedExtension:
    """What one validator's valid vote extension at `height` carried."""

    height: int
    events: int
    l2_headers: int
    l1_confirmed_height: int
    settlement_signature: bool


@dataclass(frozen=True)
class BlockVotes:
    """Block `height`'s view of the votes for height - 1."""

    height: int
    signed: frozenset[bytes]
    voters: frozenset[bytes]
    extensions: dict[bytes, CarriedExtension] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidatorRelay:
    address: bytes
    sequencer_id: int
    power: int
    signed: int  # commits it signed among `counted`
    counted: int
    last_extension: CarriedExtension | None


def compute_carried_extensions(txs: list[Any], height_voted: int) -> dict[bytes, CarriedExtension]:
    """The valid vote extensions an attested first tx carries, by validator address."""
    if not txs:
        return {}
    try:
        body = decode_attested_tx(base64.b64decode(str(txs[0]), validate=True))
    except (binascii.Error, ValueError):
        return {}
    if body is None:
        return {}
    commit = pb.abci.ExtendedCommitInfo.FromString(body.extended_commit_info)
    carried: dict[bytes, CarriedExtension] = {}
    for vote in commit.votes:
        if not vote.extension_signature:
            continue  # pruned (invalid) or the validator did not vote
        extension = pb.relay.VoteExtension.FromString(bytes(vote.vote_extension))
        carried[bytes(vote.validator.address)] = CarriedExtension(
            height=height_voted, events=len(extension.events),
            l2_headers=len(extension.l2_headers),
            l1_confirmed_height=int(extension.l1_confirmed_height),
            settlement_signature=extension.HasField("settlement_signature"))
    return carried


def compute_block_votes(block: dict[str, Any]) -> BlockVotes:
    """Signers of the last commit and the carried extensions of one /block answer."""
    header = block["block"]["header"]
    height = int(header["height"])
    signatures = (block["block"].get("last_commit") or {}).get("signatures") or []
    votes = [(bytes.fromhex(s["validator_address"]), int(s.get("block_id_flag", 0)))
             for s in signatures if s.get("validator_address")]
    voters = {address for address, _ in votes}
    signed = {address for address, flag in votes if flag == BLOCK_ID_FLAG_COMMIT}
    txs = block["block"].get("data", {}).get("txs") or []
    return BlockVotes(height, frozenset(signed), frozenset(voters),
                      compute_carried_extensions(txs, height - 1))


def compute_validator_relay(
    validators: list[Any], recent: list[BlockVotes]
) -> list[ValidatorRelay]:
    """One row per validator of the current set, from the recent blocks (oldest first)."""
    rows = []
    for validator in validators:
        address = bytes(validator.address)
        seen = [b for b in recent if address in b.voters]
        last = next((b.extensions[address] for b in reversed(recent) if address in b.extensions),
                    None)
        rows.append(ValidatorRelay(
            address=address, sequencer_id=int(validator.sequencer_id), power=int(validator.power),
            signed=sum(address in b.signed for b in seen), counted=len(seen),
            last_extension=last))
    return rows


class RecentBlocks:
    """The last RECENT_BLOCKS blocks' votes, fetched once each."""

    def __init__(self, rpc: NodeRpc, size: int = RECENT_BLOCKS) -> None:
        self.rpc = rpc
        self.size = size
        self._cache: dict[int, BlockVotes] = {}

    def get_recent(self, latest_height: int) -> list[BlockVotes]:
        first = max(2, latest_height - self.size + 1)
        wanted = range(first, latest_height + 1)
        for height in wanted:
            if height not in self._cache:
                block = self.rpc.call("block", height=str(height))
                self._cache[height] = compute_block_votes(block)
        self._cache = {h: v for h, v in self._cache.items() if h >= first}
        return [self._cache[h] for h in wanted]
