"""Everything one dashboard page shows, read from a node in one pass.

Every chain figure comes through NodeRpc.query, so the paths are those of
chain/query.py's QUERY_ROUTES; the relay figures come from recent blocks
(relay.py) and the node's own sidecar from its gRPC Status. A query the chain
answers with "not found" (no L2, no batch in flight) is shown as absent; a
node that does not answer fails the whole read (the page shows a banner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.client.rpc import (
    ChainReadError,
    NodeRpc,
    decode_query_response,
)
from abci_app.dashboard.relay import RecentBlocks, ValidatorRelay, compute_validator_relay
from abci_app.l1.client import SidecarClient

RECENT_SLASHES = 20
R = TypeVar("R", bound=Message)
MAX_SLASH_PAGES = 10  # a page is up to 100 records: stop reading after 1,000
SIDECAR_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class NodeStatus:
    chain_id: str
    moniker: str
    height: int
    block_time: str
    catching_up: bool


@dataclass(frozen=True)
class SidecarStatus:
    """The node's own sidecar (None in `status`: it did not answer)."""

    address: str
    status: Any | None


@dataclass
class Overview:
    node: NodeStatus
    sequencers: list[state.Sequencer]
    powers: dict[int, int]
    epoch: query_pb.QueryEpochResponse
    schedule: query_pb.QueryScheduleResponse
    l2_head: query_pb.QueryL2HeadResponse | None
    l1_last_nonce: int
    relay: list[ValidatorRelay]
    relay_heights: tuple[int, int]
    sidecar: SidecarStatus | None
    slashes: list[state.SlashRecord]
    slash_count: int
    withdrawals: list[state.PendingWithdrawal]
    withdrawals_more: bool
    settlement: query_pb.QuerySettlementPendingResponse | None


def get_answer(rpc: NodeRpc, path: str, cls: type[R]) -> R:
    """The answer of `path` as the type its route declares."""
    answer = rpc.query(path)
    if not isinstance(answer, cls):
        raise ChainReadError(f"{path}: answered {type(answer).__name__}, not {cls.__name__}")
    return answer


def get_node_status(rpc: NodeRpc) -> NodeStatus:
    status = rpc.status()
    info, sync = status.get("node_info", {}), status.get("sync_info", {})
    return NodeStatus(
        chain_id=str(info.get("network", "")), moniker=str(info.get("moniker", "")),
        height=int(sync.get("latest_block_height", 0)),
        block_time=str(sync.get("latest_block_time", "")),
        catching_up=bool(sync.get("catching_up", False)))


def get_recent_slashes(rpc: NodeRpc) -> tuple[list[state.SlashRecord], int]:
    """The newest RECENT_SLASHES slash records (newest first) and how many were read."""
    records: list[state.SlashRecord] = []
    cursor = b""
    for _ in range(MAX_SLASH_PAGES):
        request = query_pb.QuerySlashesRequest(cursor=cursor)
        page: Any = decode_query_response(
            "slashes", rpc.abci_query("slashes", data=request.SerializeToString()))
        records.extend(page.slashes)
        cursor = bytes(page.next_cursor)
        if not cursor:
            break
    return list(reversed(records[-RECENT_SLASHES:])), len(records)


def get_withdrawals(rpc: NodeRpc) -> tuple[list[state.PendingWithdrawal], bool]:
    """The first page of queued withdrawals, and whether there are more."""
    page = get_answer(rpc, "withdrawals", query_pb.QueryWithdrawalsResponse)
    return list(page.withdrawals), bool(page.next_cursor)


def get_sidecar_status(client: SidecarClient | None) -> SidecarStatus | None:
    if client is None:
        return None
    return SidecarStatus(client.address, client.status(SIDECAR_TIMEOUT_S))


class OverviewReader:
    """Reads Overviews from one node; keeps the recent-blocks cache between reads."""

    def __init__(self, rpc: NodeRpc, sidecar_address: str = "") -> None:
        self.rpc = rpc
        # One gRPC channel for the reader's life; it reconnects by itself.
        self.sidecar = SidecarClient(sidecar_address) if sidecar_address else None
        self.blocks = RecentBlocks(rpc)

    def read(self) -> Overview:
        rpc, q = self.rpc, query_pb
        node = get_node_status(rpc)
        validators = list(get_answer(rpc, "validators", q.QueryValidatorsResponse).validators)
        recent = self.blocks.get_recent(node.height)
        slashes, slash_count = get_recent_slashes(rpc)
        withdrawals, more = get_withdrawals(rpc)
        return Overview(
            node=node,
            sequencers=list(get_answer(rpc, "sequencers", q.QuerySequencersResponse).sequencers),
            powers={int(v.sequencer_id): int(v.power) for v in validators},
            epoch=get_answer(rpc, "epoch", q.QueryEpochResponse),
            schedule=get_answer(rpc, "schedule", q.QueryScheduleResponse),
            l2_head=rpc.query_optional("l2/head"),
            l1_last_nonce=int(get_answer(rpc, "l1/last_nonce", q.QueryL1LastNonceResponse).nonce),
            relay=compute_validator_relay(validators, recent),
            relay_heights=(recent[0].height, recent[-1].height) if recent else (0, 0),
            sidecar=get_sidecar_status(self.sidecar),
            slashes=slashes, slash_count=slash_count,
            withdrawals=withdrawals, withdrawals_more=more,
            settlement=rpc.query_optional("settlement/pending"),
        )
