"""The `seqset` command line. Known errors print one line and exit non-zero."""

import asyncio
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from abci_app.errors import AppError
from abci_app.l1.watcher import DEFAULT_CONFIRMATIONS
from abci_app.node.cli_errors import one_line_errors
from abci_app.node.config import ConfigError, load_config
from abci_app.node.deps import DependencyError, check_consensus_deps
from abci_app.node.home import HomeError, NodePorts, init_home
from abci_app.node.logs import LOG_FORMATS, setup_logging

F = TypeVar("F", bound=Callable[..., Any])
KNOWN_ERRORS = (AppError, ConfigError, DependencyError, HomeError, OSError, ValueError)


friendly_errors = one_line_errors(lambda: KNOWN_ERRORS)


home_option = click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="The node's home folder (CometBFT files plus config/seqset.toml).")
log_format_option = click.option(
    "--log-format", type=click.Choice(LOG_FORMATS), default=None,
    help="Override [app] log_format: text, or json (one object per line).")


def _find_cometbft() -> str:
    local = Path(__file__).resolve().parents[2] / ".bin" / "cometbft"
    if local.is_file():
        return str(local)
    found = shutil.which("cometbft")
    if found is None:
        raise click.ClickException("cometbft binary not found: run ./scripts/install")
    return found


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seqset")
def main() -> None:
    """seqset: the chain that runs an L2 rollup's sequencer set."""


@main.command()
@home_option
@click.option("--chain-id", default="seqset-local", show_default=True)
@click.option("--moniker", default="seqset-node", show_default=True)
@click.option("--p2p-port", default=26656, show_default=True, type=int)
@click.option("--rpc-port", default=26657, show_default=True, type=int)
@click.option("--abci-port", default=26658, show_default=True, type=int)
@click.option("--block-time-ms", default=1000, show_default=True, type=int,
              help="CometBFT timeout_commit.")
@click.option("--transport", type=click.Choice(["socket", "grpc"]), default="socket",
              show_default=True)
@click.option("--cometbft", "cometbft_binary", default=None, help="Path to the cometbft binary.")
@click.option("--join", "join_rpc", default=None, metavar="RPC_URL",
              help="Join the network of the node at this RPC: its genesis, and it as peer.")
@click.option("--l1-rpc", default=None, help="L1 RPC for this validator's sidecar.")
@click.option("--contract", default=None, help="The Locking contract (with --l1-rpc).")
@click.option("--l1-start-block", default=1, show_default=True, type=int,
              help="First L1 block the sidecar scans: the contract's deployment block.")
@click.option("--confirmations", default=DEFAULT_CONFIRMATIONS, show_default=True, type=int,
              help="L1 blocks on top of an event before the sidecar reports it.")
@click.option("--l2-rpc", default=None, help="L2 RPC for the sidecar and the sequencer agent.")
@friendly_errors
def init(home: Path, chain_id: str, moniker: str, p2p_port: int, rpc_port: int, abci_port: int,
         block_time_ms: int, transport: str, cometbft_binary: str | None, join_rpc: str | None,
         l1_rpc: str | None, contract: str | None, l1_start_block: int, confirmations: int,
         l2_rpc: str | None) -> None:
    """Create a home: CometBFT files, genesis and seqset.toml (a one-validator chain, or
    with --join a node of a running network)."""
    from abci_app.node.join import (
        ValidatorServices,
        fetch_network_entry,
        write_network_entry,
        write_validator_services,
    )

    binary = cometbft_binary or _find_cometbft()
    entry = fetch_network_entry(join_rpc) if join_rpc else None
    init_home(home, chain_id, moniker, binary, NodePorts(p2p_port, rpc_port, abci_port),
              block_time_ms, transport)
    if entry is not None:
        chain_id = write_network_entry(home, entry)
    write_validator_services(home, rpc_port, ValidatorServices(
        l1_rpc or "", contract or "", l1_start_block, confirmations, l2_rpc or ""))
    click.echo(f"initialised {home} (chain {chain_id}); start it with: seqset node --home {home}")


def _overrides(abci_address: str | None, transport: str | None) -> dict[str, Any]:
    return {"abci_address": abci_address, "transport": transport}


@main.command()
@home_option
@click.option("--abci-address", default=None, help="Override [app] abci_address.")
@click.option("--transport", type=click.Choice(["socket", "grpc"]), default=None,
              help="Override [app] transport.")
@log_format_option
@friendly_errors
def start(home: Path, abci_address: str | None, transport: str | None,
          log_format: str | None) -> None:
    """Run the ABCI app alone (start cometbft yourself)."""
    from abci_app.node.genesis_check import validate_genesis_if_present
    from abci_app.node.runner import run_app

    check_consensus_deps()
    config = load_config(home, _overrides(abci_address, transport))
    validate_genesis_if_present(home)  # one line naming the field, not a HALT at handshake
    setup_logging(config.log_level, log_format or config.log_format)
    sys.exit(asyncio.run(run_app(home, config)))


@main.command()
@home_option
@click.option("--abci-address", default=None, help="Override [app] abci_address.")
@click.option("--transport", type=click.Choice(["socket", "grpc"]), default=None)
@log_format_option
@friendly_errors
def node(home: Path, abci_address: str | None, transport: str | None,
         log_format: str | None) -> None:
    """Run the app and cometbft together; Ctrl-C stops both cleanly."""
    from abci_app.node.genesis_check import validate_genesis_file
    from abci_app.node.runner import run_node

    check_consensus_deps()
    config = load_config(home, _overrides(abci_address, transport))
    validate_genesis_file(home)  # one line naming the field, not a HALT at the handshake
    setup_logging(config.log_level, log_format or config.log_format)
    sys.exit(asyncio.run(run_node(home, config)))


@main.command(name="export")
@home_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the genesis here (default: stdout).")
@friendly_errors
def export_cmd(home: Path, out_path: Path | None) -> None:
    """Write a genesis that restarts the chain from the last committed state."""
    from abci_app.node.export import export_genesis_file

    genesis = export_genesis_file(home, load_config(home))
    text = json.dumps(genesis, indent=2) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text)
        click.echo(f"wrote {out_path} at height {genesis['initial_height']}")


@main.command()
@home_option
@click.option("--l1-rpc", default=None, help="Override [sidecar] l1_rpc_url.")
@click.option("--contract", default=None, help="Override [sidecar] contract_address.")
@log_format_option
@friendly_errors
def sidecar(home: Path, l1_rpc: str | None, contract: str | None,
            log_format: str | None) -> None:
    """Watch the L1 Locking contract and serve confirmed events to this validator's app."""
    from abci_app.l1.sidecar import parse_sidecar_config, run_sidecar, validate_sidecar_config
    from abci_app.node.config import read_toml_section

    section = dict(read_toml_section(home, "sidecar"))
    if l1_rpc:
        section["l1_rpc_url"] = l1_rpc
    if contract:
        section["contract_address"] = contract
    config = validate_sidecar_config(parse_sidecar_config(section))
    app_config = load_config(home)
    setup_logging(app_config.log_level, log_format or app_config.log_format)
    run_sidecar(str(home), config)


@main.command()
@home_option
@click.option("--l2-rpc", default=None, help="Override [sequencer] l2_rpc_url.")
@click.option("--node-rpc", default=None, help="Override [sequencer] node_rpc_url.")
@log_format_option
@friendly_errors
def sequencer(home: Path, l2_rpc: str | None, node_rpc: str | None,
              log_format: str | None) -> None:
    """Produce this validator's L2 blocks, only in its turn of the chain's schedule."""
    import signal
    import threading

    from abci_app.l2.agent import run_sequencer
    from abci_app.node.config import load_sequencer_config
    from abci_app.node.home import read_signer_key

    config = load_sequencer_config(home, {"l2_rpc_url": l2_rpc, "node_rpc_url": node_rpc})
    app_config = load_config(home)
    setup_logging(app_config.log_level, log_format or app_config.log_format)
    address, _ = read_signer_key(home)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run_sequencer(bytes.fromhex(address.removeprefix("0x")), config.l2_rpc_url,
                  config.node_rpc_url, config.poll_interval_ms, stop, config.metrics_address)


@main.command()
@home_option
@click.option("--node-rpc", default=None, help="Override [relayer] node_rpc_url.")
@click.option("--l1-rpc", default=None, help="Override [relayer] l1_rpc_url.")
@click.option("--contract", default=None, help="Override [relayer] contract_address.")
@log_format_option
@friendly_errors
def relayer(home: Path, node_rpc: str | None, l1_rpc: str | None, contract: str | None,
            log_format: str | None) -> None:
    """Submit the chain's complete settlement batches to the Locking contract (anyone may)."""
    import signal
    import threading

    from web3 import Web3

    from abci_app.l1.contract import attach_locking
    from abci_app.l1.relayer import (
        ChainPendingSource,
        ContractTarget,
        Relayer,
        read_sender_key,
        run_relayer,
    )
    from abci_app.node.config import load_relayer_config, resolve_path

    config = load_relayer_config(
        home, {"node_rpc_url": node_rpc, "l1_rpc_url": l1_rpc, "contract_address": contract})
    app_config = load_config(home)
    setup_logging(app_config.log_level, log_format or app_config.log_format)
    sender_key = read_sender_key(resolve_path(home, config.sender_key_file))
    w3 = Web3(Web3.HTTPProvider(config.l1_rpc_url, request_kwargs={"timeout": 20}))
    # Binding reads the token address: retry until L1 answers rather than exit.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    dep = _attach_when_up(lambda: attach_locking(w3, config.contract_address), stop)
    if dep is None:
        return
    target = ContractTarget(dep, sender_key)
    click.echo(f"relayer: chain {config.node_rpc_url} -> Locking {config.contract_address} "
               f"on {config.l1_rpc_url}, sending from {target.sender}")
    run_relayer(Relayer(ChainPendingSource(config.node_rpc_url), target,
                        config.poll_interval_s, config.max_backoff_s), stop,
                 config.metrics_address)


def _attach_when_up(attach: Callable[[], Any], stop: Any) -> Any:
    """`attach()`, retried every few seconds until it works or `stop` is set (then None)."""
    import logging

    delay = 1.0
    while not stop.is_set():
        try:
            return attach()
        except Exception as exc:  # noqa: BLE001 - L1 down or slow: keep trying
            logging.getLogger("seqset.relayer").warning("cannot bind to L1 yet: %s", exc)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
    return None


@main.group()
def genesis() -> None:
    """Build genesis files."""


@genesis.command(name="from-l1")
@click.option("--rpc", "rpc_url", required=True, help="L1 JSON-RPC URL.")
@click.option("--contract", "contract_address", required=True, help="Locking contract address.")
@click.option("--block", "block", required=True, type=click.IntRange(min=0),
              help="Read the contract's state at this L1 block.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write app_state into this home's config/genesis.json.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="JSON file of the other chain parameters (defaults otherwise).")
@friendly_errors
def genesis_from_l1(rpc_url: str, contract_address: str, block: int, home: Path | None,
                    params_file: Path | None) -> None:
    """The initial sequencers and the lock parameters from the Locking contract at an L1 block.

    min_lock_wei, max_lock_wei, withdrawal_delay_s, l1_chain_id and l1_contract_address come
    from L1; a --params file that sets one of them to another value is refused.
    """
    from web3 import Web3

    from abci_app.l1.contract import attach_locking
    from abci_app.l1.genesis import build_app_state_from_l1

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 20}))
    if not w3.is_connected():
        raise click.ClickException(f"cannot reach the L1 RPC at {rpc_url}")
    if not Web3.is_address(contract_address):
        raise click.ClickException(f"--contract is not an address: {contract_address!r}")
    params = json.loads(params_file.read_text()) if params_file else None
    app_state = build_app_state_from_l1(attach_locking(w3, contract_address), block, params)
    if home is None:
        click.echo(json.dumps(app_state, indent=2))
        return
    path = home / "config" / "genesis.json"
    doc = json.loads(path.read_text())
    doc["app_state"] = app_state
    path.write_text(json.dumps(doc, indent=2) + "\n")
    click.echo(f"wrote {len(app_state['sequencers'])} sequencers from L1 block {block} to {path}")


@genesis.command(name="validate")
@home_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@friendly_errors
def genesis_validate(home: Path, output: str) -> None:
    """Check config/genesis.json offline: the app state, params and CometBFT's side."""
    from abci_app.node.genesis_check import validate_genesis_file

    summary = validate_genesis_file(home)
    click.echo(json.dumps(summary.to_json()) if output == "json" else summary.describe())


from abci_app.dashboard.cli import dashboard  # noqa: E402

main.add_command(dashboard)


from abci_app.node.cli_l1 import l1 as l1_group  # noqa: E402 - registered after main exists

main.add_command(l1_group)

from abci_app.node.cli_chain import COMMANDS as CHAIN_COMMANDS  # noqa: E402

for _command in CHAIN_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()
