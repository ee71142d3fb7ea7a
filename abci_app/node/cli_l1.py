"""`seqset l1 ...`: an owner's transactions on the Locking contract, then the wait for the chain.

Each command parses its arguments, reads the owner's key (a file or $SEQSET_L1_KEY,
never the command line), checks the node answers (unless --no-wait), sends through
abci_app/l1/operator.py and prints each transaction with the events it emitted.
Then it waits until the chain's /l1/last_nonce reaches the last event's nonce,
with a progress line on stderr. Every known failure is one line and exit code 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from abci_app.l1.contract import LockingDeployment, LockingLog
    from abci_app.l1.operator import SentTx

from abci_app.node.cli_errors import ErrorTypes, one_line_errors
from abci_app.node.config import ConfigError, read_toml_section

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TIMEOUT_S = 120.0
# Event fields printed on the event's own line rather than among its arguments.
_EVENT_HEADER_FIELDS = ("eventNonce", "sequencerId")


@dataclass(frozen=True)
class L1Options:
    l1_rpc: str | None
    contract: str | None
    home: Path | None
    key_file: Path | None
    node: str | None
    output: str
    no_wait: bool
    timeout_s: float


def get_l1_known_errors() -> ErrorTypes:
    """Imported only when an l1 command fails: web3 loads only when one runs."""
    from abci_app.client.rpc import ChainReadError
    from abci_app.l1.operator import OperatorError

    return (OperatorError, ChainReadError, ConfigError, OSError, ValueError)


def compute_first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else repr(exc)


l1_errors = one_line_errors(get_l1_known_errors, compute_first_line)


def l1_options(func: F) -> F:
    """The options every `seqset l1` command shares, gathered into one L1Options `opts`."""
    @click.option("--l1-rpc", default=None, help="L1 JSON-RPC URL (default: --home's "
                  "[sidecar] l1_rpc_url).")
    @click.option("--contract", default=None, help="The Locking contract (default: --home's "
                  "[sidecar] contract_address).")
    @click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="A node home whose seqset.toml names the L1 RPC and contract.")
    @click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="The owner's L1 key: JSON {\"private_key\": hex} or bare hex "
                  "(else $SEQSET_L1_KEY).")
    @click.option("--node", default=None,
                  help="The chain's CometBFT RPC, to wait for the event (default: --home's "
                  "[rpc] laddr, else http://127.0.0.1:26657).")
    @click.option("--output", type=click.Choice(["text", "json"]), default="text",
                  show_default=True)
    @click.option("--no-wait", is_flag=True, help="Do not wait for the chain to apply the event.")
    @click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT_S,
                  show_default=True, help="Seconds to wait for the chain.")
    @wraps(func)
    def wrapper(*args: Any, l1_rpc: str | None, contract: str | None, home: Path | None,
                key_file: Path | None, node: str | None, output: str, no_wait: bool,
                timeout_s: float, **kwargs: Any) -> Any:
        opts = L1Options(l1_rpc, contract, home, key_file, node, output, no_wait, timeout_s)
        return func(*args, opts=opts, **kwargs)

    return wrapper  # type: ignore[return-value]


sequencer_id_option = click.option("--sequencer-id", required=True, type=click.IntRange(min=1),
                                   help="The sequencer's id on L1 (and on the chain).")
amount_option = click.option("--amount", required=True,
                             help="Wei, or eth with the suffix: 1000000000000000000 or 1eth.")


def get_l1_target(opts: L1Options) -> tuple[str, str]:
    """(L1 RPC URL, contract address): the flags, else --home's [sidecar] section."""
    from abci_app.l1.operator import OperatorError

    section = read_toml_section(opts.home, "sidecar") if opts.home is not None else {}
    l1_rpc = opts.l1_rpc or str(section.get("l1_rpc_url") or "")
    contract = opts.contract or str(section.get("contract_address") or "")
    if not l1_rpc:
        raise OperatorError("no L1 RPC: give --l1-rpc URL (or --home with [sidecar] l1_rpc_url)")
    if not contract:
        raise OperatorError("no contract: give --contract ADDR "
                            "(or --home with [sidecar] contract_address)")
    return l1_rpc, contract


def run(opts: L1Options, send: Callable[[LockingDeployment, str], list[SentTx]]) -> None:
    """Key, node check, L1, send, print, then wait for the chain unless --no-wait."""
    from abci_app.client.rpc import NodeRpc
    from abci_app.l1.operator import connect, get_chain_nonce, read_owner_key, wait_for_chain_nonce

    key = read_owner_key(opts.key_file, os.environ)
    l1_rpc, contract = get_l1_target(opts)
    from abci_app.node.home import resolve_node_url

    rpc = None if opts.no_wait else NodeRpc(resolve_node_url(opts.node, opts.home))
    if rpc is not None:
        get_chain_nonce(rpc)  # a dead node is found before any gas is spent
    sent = send(connect(l1_rpc, contract), key)
    if opts.output == "text":
        for tx in sent:
            click.echo(describe_tx(tx))
    nonce = max((tx.last_nonce for tx in sent), default=0)
    chain_nonce = None
    if rpc is not None and nonce:
        def report(current: int) -> None:
            click.echo(f"waiting for the chain to apply L1 event nonce {nonce}: "
                       f"chain at nonce {current}", err=True)

        chain_nonce = wait_for_chain_nonce(rpc, nonce, opts.timeout_s, report)
        if opts.output == "text":
            click.echo(f"the chain applied L1 event nonce {nonce}")
    if opts.output == "json":
        click.echo(json.dumps({"txs": [compute_tx_json(tx) for tx in sent],
                               "event_nonce": nonce, "chain_nonce": chain_nonce}))


def describe_tx(tx: SentTx) -> str:
    lines = [f"{tx.action}: tx {tx.tx_hash} in L1 block {tx.block_number} (gas {tx.gas_used})"]
    for event in tx.events:
        args = " ".join(f"{k}={v}" for k, v in compute_event_args(event).items())
        lines.append(f"  {event.name} nonce {event.nonce} sequencer {event.sequencer_id}: {args}")
    return "\n".join(lines)


def compute_event_args(event: LockingLog) -> dict[str, Any]:
    return {k: "0x" + v.hex() if isinstance(v, bytes) else v
            for k, v in event.args.items() if k not in _EVENT_HEADER_FIELDS}


def compute_tx_json(tx: SentTx) -> dict[str, Any]:
    return {"action": tx.action, "tx_hash": tx.tx_hash, "block": tx.block_number,
            "gas_used": tx.gas_used,
            "events": [{"name": e.name, "nonce": e.nonce, "sequencer_id": e.sequencer_id,
                        "args": compute_event_args(e)} for e in tx.events]}


# ---------------------------------------------------------------- the commands


@click.group(name="l1")
def l1() -> None:
    """An owner's transactions on the L1 Locking contract (then waits for the chain)."""


@l1.command(name="lock")
@click.option("--signer", default=None, help="The sequencer's signer address (L2 blocks, "
              "vote extensions, batches; default: --home's config/signer_key.json).")
@click.option("--consensus-key", default=None, help="The validator's ed25519 public key, hex "
              "(default: --home's config/priv_validator_key.json).")
@amount_option
@l1_options
@l1_errors
def lock_cmd(signer: str | None, consensus_key: str | None, amount: str, opts: L1Options
             ) -> None:
    """Become a sequencer: approve the stake token if needed, then lock."""
    from abci_app.l1.operator import (
        OperatorError,
        get_home_signer,
        lock,
        parse_address,
        parse_amount,
        parse_consensus_key,
        read_consensus_key,
    )

    if signer is None:
        if opts.home is None:
            raise OperatorError("no signer: give --signer ADDR or --home DIR")
        signer = get_home_signer(opts.home)
    signer_address = parse_address(signer, "--signer")
    amount_wei = parse_amount(amount)
    if consensus_key is not None:
        key_bytes = parse_consensus_key(consensus_key)
    elif opts.home is not None:
        key_bytes = read_consensus_key(opts.home)
    else:
        raise OperatorError("no consensus key: give --consensus-key HEX or --home DIR")
    run(opts, lambda dep, key: lock(dep, key, signer_address, key_bytes, amount_wei))


@l1.command(name="increase")
@sequencer_id_option
@amount_option
@l1_options
@l1_errors
def increase_cmd(sequencer_id: int, amount: str, opts: L1Options) -> None:
    """Add to an active sequencer's lock (approves the stake token if needed)."""
    from abci_app.l1.operator import increase_lock, parse_amount

    amount_wei = parse_amount(amount)
    run(opts, lambda dep, key: increase_lock(dep, key, sequencer_id, amount_wei))


@l1.command(name="withdraw")
@sequencer_id_option
@amount_option
@l1_options
@l1_errors
def withdraw_cmd(sequencer_id: int, amount: str, opts: L1Options) -> None:
    """Request a partial withdrawal (released by settlement after the delay)."""
    from abci_app.l1.operator import parse_amount, send_owner_call

    amount_wei = parse_amount(amount)
    run(opts, lambda dep, key: [send_owner_call(dep, key, "withdraw", sequencer_id, amount_wei)])


@l1.command(name="change-signer")
@sequencer_id_option
@click.option("--signer", required=True, help="The new signer address (never used before).")
@l1_options
@l1_errors
def change_signer_cmd(sequencer_id: int, signer: str, opts: L1Options) -> None:
    """Replace an active sequencer's signer."""
    from abci_app.l1.operator import parse_address, send_owner_call

    new_signer = parse_address(signer, "--signer")
    run(opts, lambda dep, key: [send_owner_call(dep, key, "change-signer", sequencer_id,
                                                new_signer)])


def _add_id_only_command(name: str, doc: str) -> None:
    """unlock, claim and claim-rewards take only the sequencer id."""
    @l1.command(name=name, help=doc)
    @sequencer_id_option
    @l1_options
    @l1_errors
    def command(sequencer_id: int, opts: L1Options) -> None:
        from abci_app.l1.operator import send_owner_call

        run(opts, lambda dep, key: [send_owner_call(dep, key, name, sequencer_id)])


_add_id_only_command("unlock", "Start a full exit: the whole lock is queued for release.")
_add_id_only_command("claim", "Collect the withdrawals settlement has released.")
_add_id_only_command("claim-rewards", "Collect the rewards settlement credited, as far as the "
                     "pool reaches.")
