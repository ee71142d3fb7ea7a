"""Creates and patches a node's home: CometBFT's files plus seqset's config and genesis."""

import base64
import json
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import coincurve
from eth_utils.crypto import keccak

from abci_app import chain
from abci_app.chain.params import NS_PER_S, compute_params_from_json
from abci_app.client.rpc import DEFAULT_NODE_RPC
from abci_app.node.config import CONFIG_RELATIVE_PATH, AppConfig, ConfigError, render_config

SIGNER_KEY_FILE = Path("config") / "signer_key.json"
COMETBFT_CONFIG = Path("config") / "config.toml"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
DEFAULT_LOCK_WEI = 1_000 * 10**18


class HomeError(Exception):
    """The home folder cannot be created or is not what seqset expects."""


@dataclass(frozen=True)
class NodePorts:
    p2p: int = 26656
    rpc: int = 26657
    abci: int = 26658


def compute_node_url(laddr: str) -> str:
    """CometBFT's rpc laddr ("tcp://0.0.0.0:26657") as a URL this machine can reach."""
    parts = urlsplit(laddr if "://" in laddr else f"tcp://{laddr}")
    if parts.scheme not in ("tcp", "http") or parts.port is None:
        raise ConfigError(f"[rpc] laddr {laddr!r} is not a tcp://host:port address")
    host = "127.0.0.1" if (parts.hostname or "") in WILDCARD_HOSTS else parts.hostname
    return f"http://{host}:{parts.port}"


def get_home_node_url(home: Path) -> str:
    """The node URL from the home's CometBFT config/config.toml ([rpc] laddr)."""
    path = home / COMETBFT_CONFIG
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return DEFAULT_NODE_RPC
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    laddr = (doc.get("rpc") or {}).get("laddr")
    return compute_node_url(str(laddr)) if laddr else DEFAULT_NODE_RPC


def resolve_node_url(node: str | None, home: Path | None) -> str:
    """--node if given, else the --home node's own RPC, else CometBFT's default address."""
    if node:
        return node
    return get_home_node_url(home) if home is not None else DEFAULT_NODE_RPC


def set_toml_value(text: str, section: str, key: str, value: str) -> str:
    """Replaces `key = ...` inside [section] of CometBFT's config.toml ("" = top level)."""
    current = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        header = re.match(r"^\[([^\]]+)\]\s*$", line.strip())
        if header:
            current = header.group(1)
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", line):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    raise HomeError(f"config.toml has no key {key!r} in [{section or 'top level'}]")


def run_cometbft_init(cometbft: str, home: Path) -> None:
    try:
        subprocess.run([cometbft, "init", "--home", str(home)], check=True,
                       capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise HomeError(f"cometbft binary not found: {cometbft!r} (run ./scripts/install)") from exc
    except subprocess.CalledProcessError as exc:
        raise HomeError(f"cometbft init failed: {exc.stderr.strip()}") from exc


def patch_cometbft_config(home: Path, moniker: str, ports: NodePorts, abci_address: str,
                          block_time_ms: int, transport: str) -> None:
    path = home / "config" / "config.toml"
    text = path.read_text()
    # CometBFT's gRPC client dials host:port; its socket client wants the scheme.
    proxy_app = abci_address.removeprefix("tcp://") if transport == "grpc" else abci_address
    for section, key, value in (
        ("", "moniker", f'"{moniker}"'),
        ("", "proxy_app", f'"{proxy_app}"'),
        ("", "abci", f'"{transport}"'),
        ("rpc", "laddr", f'"tcp://127.0.0.1:{ports.rpc}"'),
        ("p2p", "laddr", f'"tcp://127.0.0.1:{ports.p2p}"'),
        ("p2p", "addr_book_strict", "false"),
        ("p2p", "allow_duplicate_ip", "true"),
        ("consensus", "timeout_commit", f'"{block_time_ms}ms"'),
        ("consensus", "timeout_propose", '"2s"'),
        ("instrumentation", "prometheus", "true"),
        ("instrumentation", "prometheus_listen_addr", f'":{ports.rpc + 1000}"'),
    ):
        text = set_toml_value(text, section, key, value)
    path.write_text(text)


def read_validator_pubkey(home: Path) -> bytes:
    data = json.loads((home / "config" / "priv_validator_key.json").read_text())
    return base64.b64decode(data["pub_key"]["value"])


def read_node_id(cometbft: str, home: Path) -> str:
    out = subprocess.run([cometbft, "show-node-id", "--home", str(home)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def create_signer_key(home: Path) -> str:
    """A secp256k1 key for the operator's signer address; returns the 0x address."""
    key = coincurve.PrivateKey()
    address = "0x" + keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()
    path = home / SIGNER_KEY_FILE
    # Created 0600 (not chmod'ed after a write): the key is never readable by others
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(json.dumps({"address": address, "private_key": key.secret.hex()}))
    return address


def read_signer_key(home: Path, path: Path | None = None) -> tuple[str, bytes]:
    """(0x address, 32-byte private key) from `path` (default: the home's signer_key.json)."""
    path = path or home / SIGNER_KEY_FILE
    try:
        data = json.loads(path.read_text())
        key = bytes.fromhex(data["private_key"])
        if len(key) != 32:
            raise ValueError(f"private_key has {len(key)} bytes, expected 32")
        return str(data["address"]), key
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"cannot read {path}: {exc}") from exc


def sequencer_entry(seq_id: int, signer: str, pub_key: bytes, locked_wei: int) -> dict[str, Any]:
    return {"id": seq_id, "owner": signer, "signer": signer,
            "consensus_pubkey": base64.b64encode(pub_key).decode(), "locked_wei": str(locked_wei)}


def compute_evidence_params(app_params: object) -> dict[str, str]:
    """CometBFT's consensus_params.evidence window from the app's genesis params, so that
    CometBFT keeps evidence exactly as long as the app can still slash for it (withdrawals
    wait at least evidence_max_age_s). Durations are Go's: integer nanoseconds."""
    params = compute_params_from_json(app_params)
    return {"max_age_num_blocks": str(params.max_evidence_age_blocks),
            "max_age_duration": str(params.evidence_max_age_s * NS_PER_S)}


def write_genesis(home: Path, chain_id: str, app_state: dict[str, Any]) -> None:
    """Sets chain id, app_state, the evidence window from the app's params and vote
    extensions from height 1 (cometbft writes 0: off)."""
    path = home / "config" / "genesis.json"
    genesis = json.loads(path.read_text())
    genesis["chain_id"] = chain_id
    genesis["initial_height"] = "1"
    genesis["consensus_params"]["abci"]["vote_extensions_enable_height"] = "1"
    genesis["consensus_params"]["evidence"].update(
        compute_evidence_params(app_state.get("params")))
    genesis["app_state"] = app_state
    # InitChain's answer (the app's sequencers) decides the validators.
    genesis["validators"] = []
    path.write_text(json.dumps(genesis, indent=2) + "\n")


def init_home(home: Path, chain_id: str, moniker: str, cometbft: str, ports: NodePorts,
              block_time_ms: int = 1000, transport: str = "socket",
              app_overrides: dict[str, Any] | None = None) -> AppConfig:
    if (home / CONFIG_RELATIVE_PATH).exists():
        raise HomeError(f"{home} is already initialised (found {CONFIG_RELATIVE_PATH})")
    home.mkdir(parents=True, exist_ok=True)
    run_cometbft_init(cometbft, home)
    abci_address = f"tcp://127.0.0.1:{ports.abci}"
    patch_cometbft_config(home, moniker, ports, abci_address, block_time_ms, transport)
    signer = create_signer_key(home)
    app_state = chain.make_genesis_app_state(
        [sequencer_entry(1, signer, read_validator_pubkey(home), DEFAULT_LOCK_WEI)])
    write_genesis(home, chain_id, app_state)
    config = AppConfig(abci_address=abci_address, transport=transport,
                       cometbft_binary=cometbft, **(app_overrides or {}))
    (home / CONFIG_RELATIVE_PATH).write_text(render_config(config))
    return config
