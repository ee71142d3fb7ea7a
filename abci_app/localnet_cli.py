"""`scripts/localnet up|down|status`: a network in .localnet/ that outlives the command."""

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from abci_app.home import NodePorts
from abci_app.localnet import PROJECT_ROOT, Localnet, WaitTimeout

STATE_FILE = "localnet.json"


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


def _load(folder: Path) -> dict[str, Any] | None:
    path = _state_path(folder)
    return json.loads(path.read_text()) if path.is_file() else None


@click.group()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / ".localnet", show_default=True)
@click.pass_context
def main(ctx: click.Context, folder: Path) -> None:
    """Run a local seqset network of real cometbft validators."""
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
    if state and not fresh:
        net = _reopen(folder, state)
    else:
        net = Localnet(folder / "nodes", validators, block_time_ms=block_time_ms)
        net.init()
    try:
        net.start()
        net.wait_for_height(2, timeout_s=120)
    except WaitTimeout as exc:
        net.stop()
        raise click.ClickException(f"{exc}; logs are in {folder}/nodes/node*/logs") from exc
    _save(folder, net)
    click.echo(f"localnet of {len(net.nodes)} validators is up (chain {net.chain_id})")
    for node in net.nodes:
        click.echo(f"  node{node.index}: rpc {node.rpc_url}  home {node.home}")
    click.echo("stop it with: ./scripts/localnet down")


def _save(folder: Path, net: Localnet) -> None:
    pids = [p.pid for n in net.nodes for p in (n.app_proc, n.cometbft_proc) if p is not None]
    nodes = [{"home": str(n.home), "p2p": n.ports.p2p, "rpc": n.ports.rpc, "abci": n.ports.abci}
             for n in net.nodes]
    _state_path(folder).write_text(json.dumps(
        {"chain_id": net.chain_id, "pids": pids, "nodes": nodes}, indent=2))


def _reopen(folder: Path, state: dict[str, Any]) -> Localnet:
    ports = [NodePorts(n["p2p"], n["rpc"], n["abci"]) for n in state["nodes"]]
    return Localnet(folder / "nodes", len(ports), chain_id=state["chain_id"], ports=ports)


@main.command()
@click.pass_obj
def down(folder: Path) -> None:
    """Stop every process of the network (state is kept; `up` resumes it)."""
    state = _load(folder)
    if not state:
        click.echo("no localnet to stop")
        return
    for pid in state.get("pids", []):
        try:
            os.killpg(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
    state["pids"] = []
    _state_path(folder).write_text(json.dumps(state, indent=2))
    click.echo("localnet stopped")


@main.command()
@click.pass_obj
def status(folder: Path) -> None:
    """Print each node's height and app hash."""
    state = _load(folder)
    if not state:
        click.echo("no localnet here; start one with ./scripts/localnet up")
        sys.exit(1)
    net = _reopen(folder, state)
    for node in net.nodes:
        try:
            info = node.rpc("status")["sync_info"]
            click.echo(f"node{node.index}: height {info['latest_block_height']} "
                       f"app_hash {info['latest_app_hash'][:16]}")
        except OSError as exc:
            click.echo(f"node{node.index}: down ({exc})")


if __name__ == "__main__":
    main()
