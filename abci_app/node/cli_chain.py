"""`seqset status`, `seqset query ...` and `seqset tx ...`: a node read and written from outside.

Every command takes --node (the CometBFT RPC) and --output text|json, and fails
with one line naming the problem and a non-zero exit. The query commands are
built from abci_app/client/queries.py's CLI_QUERIES, that is from QUERY_ROUTES.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from google.protobuf.message import Message

from abci_app.chain.query import PathArg, QueryRoute, parse_address
from abci_app.client.light import LightClientError, TrustRoot
from abci_app.client.output import compute_json, render_text
from abci_app.client.prove import ProofError, prove_query
from abci_app.client.queries import (
    ROUTES,
    BadArgumentError,
    compute_address_arg,
    compute_page_request,
    get_all_pages,
    get_path,
    is_paged,
)
from abci_app.client.rpc import DEFAULT_NODE_RPC, ChainReadError, NodeRpc, QueryRejectedError
from abci_app.client.txs import InclusionTimeoutError, SignerKeyError
from abci_app.errors import ERROR_CODES, AppError
from abci_app.node.cli_errors import one_line_errors
from abci_app.node.config import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
KNOWN_ERRORS = (AppError, BadArgumentError, ChainReadError, ConfigError, InclusionTimeoutError,
                LightClientError, ProofError, SignerKeyError, OSError)


def compute_error_line(exc: Exception) -> str:
    """One line: a chain refusal carries its code's name from abci_app/errors.py."""
    if isinstance(exc, QueryRejectedError):
        name = ERROR_CODES.get(exc.code, ("unknown code", ""))[0]
        return f"the chain refused the query: code {exc.code} {name}: {exc.log}"
    if isinstance(exc, LightClientError | ProofError):
        return f"proof refused: {exc}"
    return str(exc)


chain_errors = one_line_errors(lambda: KNOWN_ERRORS, compute_error_line)


def node_option(func: F) -> F:
    return click.option("--node", default=DEFAULT_NODE_RPC, show_default=True,
                        help="The node's CometBFT RPC URL.")(func)


def output_option(func: F) -> F:
    return click.option("--output", type=click.Choice(["text", "json"]), default="text",
                        show_default=True)(func)


def echo_answer(message: Message, output: str, extra: dict[str, Any] | None = None) -> None:
    if output == "json":
        click.echo(json.dumps({**compute_json(message), **(extra or {})}, indent=2))
        return
    click.echo(render_text(message))
    for key, value in (extra or {}).items():
        click.echo(f"{key}: {value}")


# --- status -------------------------------------------------------------------------------


@click.command()
@click.option("--node", default=None,
              help=f"The node's CometBFT RPC URL (default: --home's [rpc] laddr, else "
                   f"{DEFAULT_NODE_RPC}).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A node home: its RPC, and its sidecar ([app] sidecar_address).")
@click.option("--sidecar", default=None, help="The sidecar's gRPC address (overrides --home).")
@click.option("--wait", type=click.Choice(["synced", "signing"]), default=None,
              help="First wait until the node has caught up, or also signs the last commit.")
@click.option("--wait-timeout", default=600.0, show_default=True, type=float,
              help="Seconds --wait waits before it fails.")
@output_option
@chain_errors
def status(node: str | None, home: Path | None, sidecar: str | None, wait: str | None,
           wait_timeout: float, output: str) -> None:
    """Height, app hash, this node's validator and whether it signed the last commit, epoch and
    producers, L2 head, sidecar L1 lag, settlement backlog."""
    from abci_app.client.status import get_status, render_status
    from abci_app.node.config import load_config
    from abci_app.node.home import resolve_node_url

    address = sidecar if sidecar is not None else (
        load_config(home).sidecar_address if home is not None else "")
    rpc = NodeRpc(resolve_node_url(node, home))
    report = get_status(rpc, address) if wait is None else wait_for_status(rpc, address, wait,
                                                                           wait_timeout)
    click.echo(json.dumps(report, indent=2) if output == "json" else render_status(report))


def wait_for_status(rpc: NodeRpc, sidecar_address: str, wait: str, timeout_s: float
                    ) -> dict[str, Any]:
    """Polls the node until it is `wait` (synced or signing); a node still starting is waited
    for too. ClickException naming the last state when `timeout_s` passes."""
    from abci_app.client.status import get_status, is_status_reached

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            report = get_status(rpc, sidecar_address)
            if is_status_reached(report, wait):
                return report
            state = f"height {report['height']}, catching up: {report['catching_up']}"
        except ChainReadError as exc:
            state = str(exc)
        if time.monotonic() > deadline:
            raise click.ClickException(f"node {rpc.url} not {wait} after {timeout_s:.0f} s "
                                       f"({state})")
        click.echo(f"waiting for {rpc.url} to be {wait}: {state}", err=True)
        time.sleep(2)


# --- query --------------------------------------------------------------------------------


@click.group()
def query() -> None:
    """Read the chain's state (add --prove to check a Merkle proof against a verified header).

    --prove verifies the header that commits the answer with a light client. By default
    the validator set comes from the node and is checked against that header only; pass
    --trust-height and --trust-hash (a header hash from a source you trust) to check it
    against a trusted header with CometBFT's skipping rule.
    """


def compute_arg_segment(arg: PathArg, text: str) -> str:
    """Check an argument before asking the node, in the route's own parser."""
    if arg.parse is parse_address:
        return compute_address_arg(text)
    arg.parse(text, arg.field)
    return text


def compute_trust(trust_height: int | None, trust_hash: str | None) -> TrustRoot | None:
    if (trust_height is None) != (trust_hash is None):
        raise BadArgumentError("--trust-height and --trust-hash go together")
    if trust_height is None or trust_hash is None:
        return None
    try:
        header_hash = bytes.fromhex(trust_hash.removeprefix("0x"))
    except ValueError:
        header_hash = b""
    if len(header_hash) != 32:
        raise BadArgumentError(f"--trust-hash: not a 32-byte hex hash: {trust_hash}")
    return TrustRoot(trust_height, header_hash)


def run_query(route: QueryRoute, options: dict[str, Any]) -> None:
    rpc = NodeRpc(options["node"])
    segments = [compute_arg_segment(arg, str(options[arg.field]))
                for arg in route.args if options.get(arg.field) is not None]
    path = get_path(route.path, *segments)
    paged = is_paged(route)
    limit, page_key = options.get("limit"), options.get("page_key")
    data = b""
    if paged and (limit is not None or page_key is not None):
        try:
            cursor = bytes.fromhex((page_key or "").removeprefix("0x"))
        except ValueError:
            raise BadArgumentError(f"--page-key: not hex: {page_key}") from None
        data = compute_page_request(route, limit or 0, cursor)
    if options["prove"]:
        trust = compute_trust(options["trust_height"], options["trust_hash"])
        answer, height = prove_query(rpc, path, data, options["height"] or 0, trust)
        if trust is None:
            click.echo("warning: no --trust-height/--trust-hash: the validator set is the "
                       "node's own, so this proves the answer matches the node's signed header, "
                       "not that the node is honest", err=True)
        source = f"trusted header {trust.height}" if trust else "the node, checked by the header"
        echo_answer(answer, options["output"], {"proof": {
            "height": height, "header": height + 1, "validator_set_from": source}})
    elif paged and not data:
        echo_answer(get_all_pages(rpc, route, path), options["output"])
    else:
        echo_answer(rpc.query(path, data, options["height"] or 0), options["output"])


def make_query_command(name: str, route: QueryRoute) -> click.Command:
    params: list[click.Parameter] = []
    for arg in route.args:
        if arg.optional:
            params.append(click.Option([f"--{arg.field.replace('_', '-')}", arg.field],
                                       default=None, help=f"Only this {arg.field}."))
        else:
            params.append(click.Argument([arg.field]))
    if is_paged(route):
        params += [
            click.Option(["--limit"], type=click.IntRange(min=1), default=None,
                         help="One page of at most this many (default: follow every page)."),
            click.Option(["--page-key"], default=None,
                         help="Start at this page key (a previous page's next_cursor, hex)."),
        ]
    params += [
        click.Option(["--node"], default=DEFAULT_NODE_RPC, show_default=True,
                     help="The node's CometBFT RPC URL."),
        click.Option(["--output"], type=click.Choice(["text", "json"]), default="text",
                     show_default=True),
        click.Option(["--prove"], is_flag=True, default=False,
                     help="Verify the answer's Merkle proof against a light-client-verified "
                          "header (validator set from the node unless --trust-*)."),
        click.Option(["--height"], type=click.IntRange(min=0), default=None,
                     help="Ask at this height (the node answers only its latest)."),
        click.Option(["--trust-height"], type=click.IntRange(min=1), default=None,
                     help="With --prove: a header height you trust."),
        click.Option(["--trust-hash"], default=None,
                     help="With --prove: that header's hash (hex), from a source you trust."),
    ]

    @chain_errors
    def callback(**options: Any) -> None:
        run_query(route, options)

    response = route.response_type.DESCRIPTOR.name
    return click.Command(name, callback=callback, params=params,
                         help=f"The chain's /{route.usage.lstrip('/')} answer ({response}).")


for _name, _route in ROUTES.items():
    query.add_command(make_query_command(_name, _route))


# --- tx -----------------------------------------------------------------------------------


@click.group()
def tx() -> None:
    """Sign and send chain transactions (key from --key-file or SEQSET_SIGNER_KEY only)."""


@tx.command()
@click.option("--sequencer-id", required=True, type=click.IntRange(min=1))
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON {\"private_key\": hex} (like signer_key.json) or a bare hex key file; "
                   "else the SEQSET_SIGNER_KEY environment variable.")
@node_option
@output_option
@click.option("--timeout", "timeout_s", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the tx to be in a block.")
@chain_errors
def unjail(sequencer_id: int, key_file: Path | None, node: str, output: str,
           timeout_s: float) -> None:
    """Unjail a sequencer whose jail time is over (signed by its signer key)."""
    from abci_app.client.txs import build_unjail, read_signer, send_tx

    rpc = NodeRpc(node)
    result = send_tx(rpc, build_unjail(rpc, sequencer_id, read_signer(key_file)), timeout_s)
    where = "refused by CheckTx" if result.stage == "check" else f"in block {result.height}"
    if output == "json":
        click.echo(json.dumps({"hash": result.tx_hash, "stage": result.stage,
                               "height": result.height, "code": result.code,
                               "name": result.name, "log": result.log}, indent=2))
        if result.code:
            sys.exit(1)
        return
    line = f"tx {result.tx_hash} {where}: code {result.code} {result.name}"
    if result.code:
        raise click.ClickException(f"{line}: {result.log}")
    click.echo(line)


COMMANDS = (status, query, tx)
