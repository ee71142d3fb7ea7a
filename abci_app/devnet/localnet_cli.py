"""`scripts/localnet up|down|status`: L1 and L2 anvils, the Locking contract, N validators.

Each validator runs its app, cometbft, a sidecar (following L1 and the L2) and
a sequencer agent that produces the L2's blocks in its turn.

The network lives in .localnet/ and outlives the command; `down` stops it by
PID (anvil saves its state), and `up` resumes it.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from abci_app.devnet.localnet import PROJECT_ROOT, WaitTimeoutError
from abci_app.devnet.localnet_l2 import L2Localnet
from abci_app.node.home import NodePorts

STATE_FILE = "localnet.json"
DOWN_TIMEOUT_S = 20.0  # then SIGKILL


def _state_path(folder: Path) -> Path:
    return folder / STATE_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _load(folder: Path) -> dict[str, Any] | None:
    path = _state_path(folder)
    return json.loads(path.read_text()) if path.is_file() else None


@click.group()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / ".localnet", show_default=True)
@click.pass_context
def main(ctx: click.Context, folder: Path) -> None:
    """Run a local seqset network: anvil with the Locking contract, validators and sidecars."""
    ctx.obj = folder


@main.command()
@click.option("-n", "--validators", default=4, show_default=True, type=click.IntRange(1, 16))
@click.option("--block-time-ms", default=500, show_default=True, type=int)
@click.option("--fresh", is_flag=True, help="Wipe an existing network first.")
@click.pass_obj
def up(folder: Path, validators: int, block_time_ms: int, fresh: bool) -> None:
    """Start the network (resumes an existing one unless --fresh)."""
    state = _load(folder)
    if state and any(_alive(int(p)) for p in state.get("pids", [])):
        click.echo(f"localnet already running in {folder}; `scripts/localnet status` shows it")
        return
    folder.mkdir(parents=True, exist_ok=True)
    anvil_state = folder / "anvil-state.json"
    if state and not fresh:
        net = _reopen(folder, state)
        net.resume(state["locking_address"], int(state["deploy_block"]))
    else:
        anvil_state.unlink(missing_ok=True)
        net = L2Localnet(folder, validators, block_time_ms=block_time_ms,
                         anvil_state=anvil_state)
        net.init()
    try:
        net.start()
        net.net.wait_for_height(2, timeout_s=120)
    except WaitTimeoutError as exc:
        net.stop()
        raise click.ClickException(f"{exc}; logs are in {folder}/nodes/node*/logs") from exc
    _save(folder, net)
    _print_summary(net)


def _print_summary(net: L2Localnet) -> None:
    click.echo(f"localnet of {len(net.nodes)} validators is up (chain {net.net.chain_id})")
    click.echo(f"  L1 (anvil): {net.anvil.url}  Locking contract {net.deployment.locking_address}")
    click.echo(f"  L2 (anvil, chain id {net.l2.chain_id}, mined only by the scheduled agent): "
               f"{net.l2.url}")
    for node in net.nodes:
        click.echo(f"  node{node.index}: rpc {node.rpc_url}  sidecar "
                   f"{net.sidecar_address(node.index)}  home {node.home}")
        click.echo(f"         metrics: app {node.metrics_url}  sidecar "
                   f"{net.sidecar_metrics_url(node.index)}  agent "
                   f"{net.agent_metrics_url(node.index)}")
    click.echo(f"  relayer: settles complete batches on L1, log {net.relayer_log}, "
               f"metrics {net.relayer_metrics_url}")
    home = net.nodes[0].home
    click.echo("status: ./scripts/localnet status    stop: ./scripts/localnet down")
    click.echo(f"node 0: .venv/bin/seqset status --home {home}\n"
               f"        .venv/bin/seqset dashboard --home {home}   (http://127.0.0.1:8080/)")


def _save(folder: Path, net: L2Localnet) -> None:
    state = {
        "chain_id": net.net.chain_id,
        "pids": [p.pid for p in net.processes()],
        "nodes": [{"p2p": n.ports.p2p, "rpc": n.ports.rpc, "abci": n.ports.abci}
                  for n in net.nodes],
        "sidecar_ports": net.sidecar_ports,
        "anvil_port": net.anvil.port,
        "l2_port": net.l2.port,
        "locking_address": net.deployment.locking_address,
        "relayer_log": str(net.relayer_log),
        "deploy_block": net.deployment.deploy_block,
    }
    _state_path(folder).write_text(json.dumps(state, indent=2))


def _reopen(folder: Path, state: dict[str, Any]) -> L2Localnet:
    ports = [NodePorts(n["p2p"], n["rpc"], n["abci"]) for n in state["nodes"]]
    return L2Localnet(folder, len(ports), chain_id=state["chain_id"], ports=ports,
                      sidecar_ports=state["sidecar_ports"], anvil_port=state["anvil_port"],
                      anvil_state=folder / "anvil-state.json",
                      l2_port=int(state.get("l2_port", 0)))


@main.command()
@click.pass_obj
def down(folder: Path) -> None:
    """Stop every process of the network (state is kept; `up` resumes it)."""
    state = _load(folder)
    if not state:
        click.echo("no localnet to stop")
        return
    # Validators and agents first, the anvils last, so nothing watches a node that is gone.
    pids = [int(p) for p in reversed(state.get("pids", []))]
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    # A process that ignores SIGTERM (a cometbft stuck in shutdown) would hold its ports
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            click.echo(f"pid {pid} ignored SIGTERM for {DOWN_TIMEOUT_S:.0f}s: killing it")
            _signal_group(pid, signal.SIGKILL)
    state["pids"] = []
    _state_path(folder).write_text(json.dumps(state, indent=2))
    click.echo("localnet stopped; `./scripts/localnet up` resumes it")


@main.command()
@click.pass_obj
def status(folder: Path) -> None:
    """Print each node's height, app hash and L1 nonce; the L2 head and its producers;
    the settlement backlog."""
    state = _load(folder)
    if not state:
        click.echo("no localnet here; start one with ./scripts/localnet up")
        sys.exit(1)
    net = _reopen(folder, state)
    for node in net.nodes:
        try:
            info = node.rpc("status")["sync_info"]
            nonce = net.last_applied_nonce(node.index)
            click.echo(f"node{node.index}: height {info['latest_block_height']} "
                       f"app_hash {info['latest_app_hash'][:16]} l1_nonce {nonce}")
        except OSError as exc:
            click.echo(f"node{node.index}: down ({exc})")
    click.echo(describe_l2(net))
    click.echo(describe_settlement(net, str(state["locking_address"])))


def describe_settlement(net: L2Localnet, locking_address: str) -> str:
    """The settlement backlog: the chain's in-flight batch and L1's last settled nonce."""
    from web3 import Web3

    from abci_app.l1.contract import attach_locking, get_last_batch_nonce

    try:
        w3 = Web3(Web3.HTTPProvider(net.anvil.url, request_kwargs={"timeout": 5}))
        l1_nonce = get_last_batch_nonce(attach_locking(w3, locking_address))
    except Exception as exc:  # noqa: BLE001 - status reports whatever is down
        return f"settlement: L1 unreachable ({exc})"
    for node in net.nodes:
        try:
            pending = net.pending_batch(node.index)
        except Exception:  # noqa: BLE001 - try the next node
            continue
        if pending is None:
            return f"settlement: no batch in flight; L1 lastBatchNonce {l1_nonce}"
        state = "complete" if pending.complete else "collecting signatures"
        return (f"settlement: batch {pending.nonce} in flight ({pending.batch.item_count} items, "
                f"{state}: {len(pending.signatures)} signatures, stake "
                f"{pending.signed_stake_wei}/{pending.total_stake_wei}); "
                f"L1 lastBatchNonce {l1_nonce}; relayer log {net.relayer_log}")
    return f"settlement: no node answered; L1 lastBatchNonce {l1_nonce}"


def describe_l2(net: L2Localnet) -> str:
    """The L2 node's head, and the chain's attested head with its current and next producer."""
    try:
        head = net.l2_head()
        line = (f"L2: head {head.height} (0x{head.hash.hex()[:12]}, coinbase "
                f"0x{head.producer.hex()[:10]})")
    except Exception as exc:  # noqa: BLE001 - status reports whatever is down
        return f"L2: node down ({exc})"
    for node in net.nodes:
        try:
            chain = net.chain_l2_head(node.index)
        except Exception:  # noqa: BLE001 - try the next node
            continue
        return (f"{line}; attested {chain.height}, epoch {chain.epoch}, producer "
                f"{chain.producer_id} (0x{bytes(chain.producer_signer).hex()[:10]}), next "
                f"{chain.next_producer_id or '?'}, next epoch "
                f"{chain.next_epoch_producer_id or '?'}")
    return f"{line}; no node answered /l2/head"


if __name__ == "__main__":
    main()
