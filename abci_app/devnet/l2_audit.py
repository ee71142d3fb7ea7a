"""Reading back what a running L2 localnet did: attested headers, events, faults, gaps.

Shared by `scripts/soak` (abci_app/devnet/soak.py) and the L2 acceptance tests
(tests/integration/test_l2_*.py), so that the checks behind "each block was
produced by its scheduled sequencer" or "no fault was recorded" are written once.
Everything here reads CometBFT's RPC (blocks, block results) and the chain's
queries; nothing writes.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from abci_app.chain.params import NS_PER_S
from abci_app.chain.state import ACTIVE
from abci_app.devnet.localnet import LocalNode
from abci_app.devnet.localnet_l1 import query_node
from abci_app.l2.source import L2Block
from abci_app.relay.attested_tx import decode_attested_tx

# Chain events that mean a production fault or a block out of turn.
FAULT_EVENT_TYPES = ("producer_fault", "l2_out_of_turn", "producer_reelected")


@dataclass(frozen=True)
class AttestedHeader:
    """An L2 header carried by the attested tx of CometBFT block `height`."""

    height: int  # the CometBFT block
    time_ns: int  # that block's time
    header: Any  # pb.l2.L2Header


@dataclass(frozen=True)
class ChainEvent:
    height: int  # the CometBFT block that emitted it
    type: str
    attributes: dict[str, str]


def parse_block_time_ns(text: str) -> int:
    """CometBFT's RFC 3339 time with up to nanoseconds ("...T12:00:00.123456789Z")."""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    return int(seconds) * NS_PER_S + int((fraction or "0").ljust(9, "0")[:9])


def get_block(node: LocalNode, height: int) -> dict[str, Any]:
    block: dict[str, Any] = node.rpc("block", height=height)["block"]
    return block


def get_block_time_ns(node: LocalNode, height: int) -> int:
    return parse_block_time_ns(get_block(node, height)["header"]["time"])


def get_attested_headers(node: LocalNode, first: int, last: int) -> list[AttestedHeader]:
    """Headers of the attested txs in blocks [first, last], in order."""
    found = []
    for height in range(max(first, 1), last + 1):
        block = get_block(node, height)
        txs = block["data"]["txs"] or []
        body = decode_attested_tx(base64.b64decode(txs[0])) if txs else None
        if body is None:
            continue
        time_ns = parse_block_time_ns(block["header"]["time"])
        found += [AttestedHeader(height, time_ns, h) for h in body.l2_headers]
    return found


def get_events(node: LocalNode, first: int, last: int, types: tuple[str, ...]
               ) -> list[ChainEvent]:
    """Events of the given types emitted by blocks [first, last] (FinalizeBlock and txs)."""
    found = []
    for height in range(max(first, 1), last + 1):
        results = node.rpc("block_results", height=height)
        raw = list(results.get("finalize_block_events") or [])
        for tx in results.get("txs_results") or []:
            raw += tx.get("events") or []
        found += [ChainEvent(height, e["type"],
                             {a["key"]: a["value"] for a in e.get("attributes") or []})
                  for e in raw if e["type"] in types]
    return found


def get_signers(node: LocalNode) -> dict[int, bytes]:
    return {int(s.id): bytes(s.signer) for s in query_node(node, "/sequencers").sequencers}


def get_scheduled_sequencer(node: LocalNode, l2_height: int) -> int:
    return int(query_node(node, f"/sequencer_at/{l2_height}").sequencer_id)


def compute_misattributed(node: LocalNode, headers: list[AttestedHeader]) -> list[str]:
    """Attested headers whose producer is not the signer /sequencer_at names for them."""
    signers = get_signers(node)
    wrong = []
    for attested in headers:
        height = int(attested.header.height)
        scheduled = get_scheduled_sequencer(node, height)
        producer = bytes(attested.header.producer)
        if signers.get(scheduled) != producer:
            wrong.append(f"L2 block {height}: producer 0x{producer.hex()}, scheduled "
                         f"sequencer {scheduled}")
    return wrong


def count_producers_by_epoch(node: LocalNode, headers: list[AttestedHeader],
                             epoch_length: int) -> dict[int, Counter[int]]:
    """Per epoch, how many attested L2 blocks each sequencer (by signer; 0: none) produced."""
    by_signer = {signer: seq for seq, signer in get_signers(node).items()}
    epochs: dict[int, Counter[int]] = {}
    for attested in headers:
        epoch = (int(attested.header.height) - 1) // epoch_length
        producer = by_signer.get(bytes(attested.header.producer), 0)
        epochs.setdefault(epoch, Counter())[producer] += 1
    return epochs


def compute_longest_gap_s(blocks: list[L2Block]) -> tuple[int, int]:
    """(seconds, height) of the longest timestamp gap between consecutive L2 blocks,
    `height` being the block that ended it. Timestamps are whole seconds."""
    longest = (0, 0)
    for previous, block in zip(blocks, blocks[1:], strict=False):
        longest = max(longest, (block.timestamp_s - previous.timestamp_s, block.height))
    return longest


def get_recorded_faults(node: LocalNode) -> list[str]:
    """Every recorded fault: slashes, out-of-turn counters, producer and consensus jails."""
    faults = [f"slash of sequencer {s.sequencer_id}: {s.reason} at height {s.height}"
              for s in query_node(node, "/slashes").slashes]
    for seq in query_node(node, "/sequencers").sequencers:
        if seq.out_of_turn_blocks:
            faults.append(f"sequencer {seq.id}: {seq.out_of_turn_blocks} blocks out of turn")
        if seq.producer_jailed_until_ns:
            faults.append(f"sequencer {seq.id}: producer-jailed until "
                          f"{seq.producer_jailed_until_ns}")
        if seq.missed_productions:
            faults.append(f"sequencer {seq.id}: {seq.missed_productions} missed productions")
        if seq.jailed_until_ns or seq.status != ACTIVE:
            faults.append(f"sequencer {seq.id}: status {seq.status}, jailed until "
                          f"{seq.jailed_until_ns}")
    return faults


def get_cometbft_powers(node: LocalNode, height: int | None = None) -> dict[str, int]:
    """CometBFT's own validator set (at `height`, or the latest): address hex -> power."""
    params: dict[str, Any] = {"per_page": 100}
    if height is not None:
        params["height"] = height
    answer = node.rpc("validators", **params)
    return {v["address"]: int(v["voting_power"]) for v in answer["validators"]}
