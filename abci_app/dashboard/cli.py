"""`seqset dashboard`: serve the read-only web dashboard of one node.

Registered in abci_app/node/cli.py; this module must not import that one (the
localnet runs the CLI as `python -m abci_app.node.cli`, and the import would
load it twice).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from abci_app.client.rpc import DEFAULT_NODE_RPC
from abci_app.node.config import ConfigError, load_config
from abci_app.node.home import get_home_node_url
from abci_app.node.logs import LOG_FORMATS, setup_logging

DEFAULT_LISTEN = "127.0.0.1:8080"


def parse_listen(text: str) -> tuple[str, int]:
    """"host:port" (or "[v6]:port") -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise click.BadParameter(f"{text!r} is not host:port", param_hint="--listen")
    return host.strip("[]"), int(port)


@click.command()
@click.option("--home", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The node's home: its RPC address and its sidecar come from there.")
@click.option("--node", "node_url", default=None,
              help="The node's RPC URL (default: the home's [rpc] laddr, else "
                   f"{DEFAULT_NODE_RPC}).")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True,
              help="host:port to serve on (loopback by default: the page is read-only but "
                   "has no login).")
@click.option("--refresh-ms", default=3000, show_default=True, type=click.IntRange(min=500),
              help="How often an open page refreshes its sections.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Format of the startup line.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
              help="Override [app] log_format: text, or json (one object per line).")
def dashboard(home: Path, node_url: str | None, listen: str, refresh_ms: int,
              output: str, log_format: str | None) -> None:
    """Serve a read-only web dashboard of the sequencer set (sequencers, schedule, relay
    health, slashes, withdrawals, settlement)."""
    from aiohttp import web

    from abci_app.client.rpc import NodeRpc
    from abci_app.dashboard.overview import OverviewReader
    from abci_app.dashboard.server import Dashboard, build_app

    host, port = parse_listen(listen)
    try:
        url = node_url or get_home_node_url(home)
        config = load_config(home)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    setup_logging(config.log_level, log_format or config.log_format)
    sidecar = config.sidecar_address
    app = build_app(Dashboard(OverviewReader(NodeRpc(url), sidecar), refresh_ms))
    page = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    click.echo(json.dumps({"dashboard": page, "node": url}) if output == "json"
               else f"dashboard of {url} on {page}")
    try:
        web.run_app(app, host=host, port=port, print=None)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {listen}: {exc}") from exc
