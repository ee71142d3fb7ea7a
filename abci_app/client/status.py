"""`seqset status`: one node's view of the chain, read over its RPC and its sidecar.

Every part that may be missing (the L2, the settlement backlog, the sidecar)
reads as None with the reason, never as an error: a status command must answer
about a half-working node too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from abci_app import pb
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.client.queries import STATUS_PATHS
from abci_app.client.rpc import NodeRpc
from abci_app.l1.client import STATUS_METHOD
from abci_app.l1.service import compute_grpc_target

SIDECAR_TIMEOUT_S = 2.0
BLOCK_ID_FLAG_COMMIT = 2


@dataclass(frozen=True)
class SidecarReport:
    """The sidecar's Status, or why there is none."""

    status: Any | None  # seqset.v1.StatusResponse
    reason: str = ""

    @property
    def l1_lag(self) -> int | None:
        if self.status is None:
            return None
        return max(0, int(self.status.l1_head) - int(self.status.confirmed_l1_height))


def get_sidecar_report(address: str) -> SidecarReport:
    if not address:
        return SidecarReport(None, "no sidecar address: pass --sidecar or --home")
    try:
        with grpc.insecure_channel(compute_grpc_target(address)) as channel:
            call = channel.unary_unary(
                STATUS_METHOD, request_serializer=pb.sidecar.StatusRequest.SerializeToString,
                response_deserializer=pb.sidecar.StatusResponse.FromString)
            return SidecarReport(call(pb.sidecar.StatusRequest(), timeout=SIDECAR_TIMEOUT_S))
    except grpc.RpcError as exc:
        code = exc.code().name.lower() if isinstance(exc, grpc.Call) else "error"
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return SidecarReport(None, f"sidecar {address} did not answer: {code}: {details}")
    except Exception as exc:  # noqa: BLE001 - a bad address is also "unknown, because"
        return SidecarReport(None, f"sidecar {address}: {type(exc).__name__}: {exc}")


def compute_own_validator(address: bytes, validators: query_pb.QueryValidatorsResponse,
                          sequencers: query_pb.QuerySequencersResponse) -> dict[str, Any]:
    """This node's place in the set: power, sequencer id and status (or not a validator)."""
    for validator in validators.validators:
        if bytes(validator.address) == address:
            seq = next((s for s in sequencers.sequencers if s.id == validator.sequencer_id), None)
            status = state.SequencerStatus.Name(seq.status) if seq is not None else "unknown"
            return {"address": "0x" + address.hex(), "power": int(validator.power),
                    "sequencer_id": int(validator.sequencer_id),
                    "sequencer_status": status.removeprefix("SEQUENCER_STATUS_").lower()}
    return {"address": "0x" + address.hex(), "power": 0, "sequencer_id": 0,
            "sequencer_status": "not in the validator set"}


def get_last_signed(rpc: NodeRpc, address: bytes) -> dict[str, Any]:
    """Whether `address` signed the latest commit (CometBFT's BlockIDFlagCommit = 2)."""
    commit = (rpc.call("commit").get("signed_header") or {}).get("commit") or {}
    signed = any(str(sig.get("validator_address", "")).lower() == address.hex()
                 and int(sig.get("block_id_flag", 0)) == BLOCK_ID_FLAG_COMMIT
                 for sig in commit.get("signatures") or [])
    return {"height": int(commit.get("height", 0)), "signed": signed}


def get_status(rpc: NodeRpc, sidecar_address: str) -> dict[str, Any]:
    """Everything `seqset status` prints, as plain JSON-able values."""
    node = rpc.status()
    sync = node.get("sync_info") or {}
    address = bytes.fromhex(str((node.get("validator_info") or {}).get("address") or ""))
    epoch = rpc.query(STATUS_PATHS["epoch"])
    schedule = rpc.query(STATUS_PATHS["schedule"])
    head = rpc.query_optional(STATUS_PATHS["l2/head"])
    pending = rpc.query_optional(STATUS_PATHS["settlement/pending"])
    sidecar = get_sidecar_report(sidecar_address)
    next_spans = list(schedule.next.spans)  # type: ignore[attr-defined]
    return {
        "node": rpc.url,
        "chain_id": (node.get("node_info") or {}).get("network", ""),
        "height": int(sync.get("latest_block_height", 0)),
        "app_hash": str(sync.get("latest_app_hash", "")),
        "catching_up": bool(sync.get("catching_up")),
        "validator": compute_own_validator(
            address, rpc.query(STATUS_PATHS["validators"]),  # type: ignore[arg-type]
            rpc.query(STATUS_PATHS["sequencers"])),  # type: ignore[arg-type]
        "last_commit": get_last_signed(rpc, address),
        "epoch": int(epoch.epoch),  # type: ignore[attr-defined]
        "producer_id": int(epoch.producer_id),  # type: ignore[attr-defined]
        "next_producer_id": int(head.next_producer_id) if head is not None else (
            int(next_spans[0].sequencer_id) if next_spans else 0),
        "l2_head": None if head is None else {
            "height": int(head.height), "hash": "0x" + bytes(head.hash).hex()},
        "sidecar_l1_lag": sidecar.l1_lag,
        "sidecar": sidecar.reason or "ok",
        "settlement_pending": None if pending is None else {
            "nonce": int(pending.batch.nonce), "complete": bool(pending.complete),
            "signed_stake_wei": pending.signed_stake_wei,
            "total_stake_wei": pending.total_stake_wei},
    }


def render_status(report: dict[str, Any]) -> str:
    validator = report["validator"]
    head, pending = report["l2_head"], report["settlement_pending"]
    lag = report["sidecar_l1_lag"]
    lines = [
        f"node:            {report['node']} (chain {report['chain_id']})",
        f"height:          {report['height']}",
        f"app hash:        {report['app_hash']}",
        f"catching up:     {'yes' if report['catching_up'] else 'no'}",
        f"validator:       {validator['address']}  power {validator['power']}  "
        f"sequencer {validator['sequencer_id'] or '-'} ({validator['sequencer_status']})",
        f"last commit:     {report['last_commit']['height']}, "
        + ("signed by this validator" if report["last_commit"]["signed"] else "not signed by it"),
        f"epoch:           {report['epoch']}",
        f"producer:        {report['producer_id'] or 'none'}  "
        f"next: {report['next_producer_id'] or 'none'}",
        "l2 head:         " + ("none (no L2 registered)" if head is None
                               else f"{head['height']} {head['hash']}"),
        "sidecar L1 lag:  " + (f"{lag} blocks" if lag is not None
                               else f"unknown ({report['sidecar']})"),
        "settlement:      " + ("no batch in flight" if pending is None else (
            f"batch {pending['nonce']} {'complete' if pending['complete'] else 'collecting'}, "
            f"signed {pending['signed_stake_wei']} of {pending['total_stake_wei']} wei")),
    ]
    return "\n".join(lines)


def is_status_reached(report: dict[str, Any], wait: str) -> bool:
    """`seqset status --wait`: synced (caught up), or signing (also signed the last commit)."""
    synced = not report["catching_up"]
    return synced if wait == "synced" else synced and bool(report["last_commit"]["signed"])
