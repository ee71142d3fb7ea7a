"""Points a fresh home at a running network: its genesis, a peer, and this validator's
sidecar and sequencer agent.

`seqset init --join RPC_URL` reads the genesis and the node's p2p address from a
running node's CometBFT RPC, so a joining operator copies nothing by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abci_app.client.rpc import ChainReadError, NodeRpc
from abci_app.l1.watcher import DEFAULT_CONFIRMATIONS
from abci_app.node.config import CONFIG_RELATIVE_PATH
from abci_app.node.home import HomeError, set_toml_value

SIDECAR_SOCKET = "sidecar.sock"


@dataclass(frozen=True)
class NetworkEntry:
    genesis: dict[str, Any]
    peer: str  # node_id@host:port


@dataclass(frozen=True)
class ValidatorServices:
    """What this validator's sidecar and agent talk to ("" = not configured)."""
    l1_rpc_url: str = ""
    contract_address: str = ""
    l1_start_block: int = 1
    confirmations: int = DEFAULT_CONFIRMATIONS
    l2_rpc_url: str = ""


def fetch_network_entry(rpc_url: str) -> NetworkEntry:
    """The genesis and the p2p address of the node behind `rpc_url`."""
    rpc = NodeRpc(rpc_url, timeout_s=10.0)
    try:
        genesis = rpc.call("genesis").get("genesis")
        node_info = rpc.status().get("node_info", {})
    except ChainReadError as exc:
        raise HomeError(f"cannot join through {rpc_url}: {exc}") from exc
    node_id, listen = str(node_info.get("id", "")), str(node_info.get("listen_addr", ""))
    if not isinstance(genesis, dict) or not node_id or not listen:
        raise HomeError(f"{rpc_url} did not answer a genesis and a node id")
    return NetworkEntry(genesis, f"{node_id}@{listen.removeprefix('tcp://')}")


def write_network_entry(home: Path, entry: NetworkEntry) -> str:
    """Replaces the home's genesis with the network's and peers with its node; the chain id."""
    (home / "config" / "genesis.json").write_text(json.dumps(entry.genesis, indent=2) + "\n")
    path = home / "config" / "config.toml"
    path.write_text(set_toml_value(path.read_text(), "p2p", "persistent_peers",
                                   f'"{entry.peer}"'))
    return str(entry.genesis.get("chain_id", ""))


def render_services_toml(home: Path, rpc_port: int, services: ValidatorServices) -> str:
    """[sidecar] and [sequencer] sections for seqset.toml (empty when no L1 is given)."""
    if not services.l1_rpc_url:
        return ""
    lines = ["", "[sidecar]",
             f'l1_rpc_url = "{services.l1_rpc_url}"',
             f'contract_address = "{services.contract_address}"',
             f"start_block = {services.l1_start_block}",
             f"confirmations = {services.confirmations}",
             f'listen_address = "unix:{home.resolve() / SIDECAR_SOCKET}"']
    if services.l2_rpc_url:
        lines += [f'l2_rpc_url = "{services.l2_rpc_url}"', "",
                  "[sequencer]",
                  f'l2_rpc_url = "{services.l2_rpc_url}"',
                  f'node_rpc_url = "http://127.0.0.1:{rpc_port}"']
    return "\n".join(lines) + "\n"


def write_validator_services(home: Path, rpc_port: int, services: ValidatorServices) -> None:
    """Appends the sidecar and agent sections and points the app at the sidecar."""
    if not services.l1_rpc_url:
        return
    if not services.contract_address:
        raise HomeError("--l1-rpc needs --contract (the Locking contract's address)")
    path = home / CONFIG_RELATIVE_PATH
    text = path.read_text().replace(
        'sidecar_address = ""', f'sidecar_address = "unix:{home.resolve() / SIDECAR_SOCKET}"')
    path.write_text(text + render_services_toml(home, rpc_port, services))
