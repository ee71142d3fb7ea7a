"""The node's app configuration: `<home>/config/seqset.toml`, written by `seqset init`.

Every field has a documented default; command-line flags override the file.
"""

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from abci_app.node.logs import LOG_FORMATS

CONFIG_RELATIVE_PATH = Path("config") / "seqset.toml"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or has a bad value."""


@dataclass(frozen=True)
class AppConfig:
    # Where the ABCI server listens; CometBFT's proxy_app points here.
    abci_address: str = "tcp://127.0.0.1:26658"
    # "socket" (CometBFT's default) or "grpc".
    transport: str = "socket"
    # LevelDB folder, relative to the home unless absolute.
    db_dir: str = "data/seqset.db"
    # Largest ABCI frame accepted, in bytes.
    max_frame_bytes: int = 128 * 1024 * 1024
    # Take a state-sync snapshot every N heights (0 = never), keep the newest K.
    snapshot_interval: int = 0
    snapshot_keep_recent: int = 2
    snapshot_chunk_bytes: int = 4 * 1024 * 1024
    # The validator's own sidecar ("" = none: this node attests nothing).
    sidecar_address: str = ""
    # Deadline of each background poll of the sidecar, in milliseconds (ExtendVote never waits).
    extend_vote_timeout_ms: int = 300
    # Address for the seqset.v1.Query gRPC service ("" = off).
    query_grpc_address: str = ""
    # Prometheus metrics on http://<address>/metrics ("" = off).
    metrics_address: str = ""
    log_level: str = "info"
    # "text" or "json" (one object per line); `--log-format` overrides it.
    log_format: str = "text"
    # This validator's secp256k1 signer key (`seqset init` writes it), which signs settlement
    # batches in ExtendVote. A missing file: no settlement signatures (logged once).
    signer_key_file: str = "config/signer_key.json"
    # The cometbft binary `seqset node` runs.
    cometbft_binary: str = "cometbft"


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool) or not isinstance(value, type(default)):
        raise ConfigError(
            f"{name} must be {type(default).__name__}, got {type(value).__name__} ({value!r})"
        )
    return value


def validate_config(config: AppConfig) -> AppConfig:
    if config.transport not in ("socket", "grpc"):
        raise ConfigError(f"transport must be 'socket' or 'grpc', got {config.transport!r}")
    for name in ("max_frame_bytes", "snapshot_chunk_bytes", "extend_vote_timeout_ms"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    if config.snapshot_interval < 0 or config.snapshot_keep_recent < 1:
        raise ConfigError("snapshot_interval must be >= 0 and snapshot_keep_recent >= 1")
    if config.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level must be debug, info, warning or error: {config.log_level!r}")
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be text or json, got {config.log_format!r}")
    return config


def load_config(home: Path, overrides: dict[str, Any] | None = None) -> AppConfig:
    path = home / CONFIG_RELATIVE_PATH
    if not path.is_file():
        raise ConfigError(f"no config at {path}: run `seqset init --home {home}` first")
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    section = raw.get("app", {})
    defaults = AppConfig()
    known = {f.name for f in fields(AppConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys in [app]: {', '.join(unknown)}")
    values = {k: _coerce(k, v, getattr(defaults, k)) for k, v in sorted(section.items())}
    config = replace(defaults, **values)
    if overrides:
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return validate_config(config)


def resolve_path(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path


def render_config(config: AppConfig) -> str:
    lines = ["# seqset app configuration. Flags to `seqset start/node` override these.", "[app]"]
    for f in fields(AppConfig):
        value = getattr(config, f.name)
        rendered = f'"{value}"' if isinstance(value, str) else str(value)
        lines.append(f"{f.name} = {rendered}")
    return "\n".join(lines) + "\n"


def read_toml_section(home: Path, section: str) -> dict[str, Any]:
    """Another component's section of the same file (e.g. [sidecar])."""
    path = home / CONFIG_RELATIVE_PATH
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    return value


@dataclass(frozen=True)
class SequencerConfig:
    """[sequencer]: the agent (`seqset sequencer`) that produces this validator's L2 blocks."""

    # The L2 node's JSON-RPC endpoint (in the localnet: anvil with --no-mining).
    l2_rpc_url: str = "http://127.0.0.1:9545"
    # This validator's CometBFT RPC, for abci_query and the /websocket NewBlock subscription.
    node_rpc_url: str = "http://127.0.0.1:26657"
    # Fallback poll when no NewBlock event arrives, in milliseconds.
    poll_interval_ms: int = 100
    # Prometheus metrics on http://<address>/metrics (tcp://host:port; "" = off).
    metrics_address: str = ""


def load_sequencer_config(home: Path, overrides: dict[str, Any] | None = None
                          ) -> SequencerConfig:
    section = read_toml_section(home, "sequencer")
    defaults = SequencerConfig()
    known = {f.name for f in fields(SequencerConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown keys in [sequencer]: {', '.join(unknown)}")
    values = {k: _coerce(f"[sequencer] {k}", v, getattr(defaults, k))
              for k, v in sorted(section.items())}
    config = replace(defaults, **values, **{k: v for k, v in (overrides or {}).items() if v})
    for name in ("l2_rpc_url", "node_rpc_url"):
        if not getattr(config, name).startswith(("http://", "https://")):
            raise ConfigError(f"[sequencer] {name} must be http(s)://: {getattr(config, name)!r}")
    if config.poll_interval_ms <= 0:
        raise ConfigError("[sequencer] poll_interval_ms must be positive")
    return config


@dataclass(frozen=True)
class RelayerConfig:
    """[relayer]: `seqset relayer`, which submits complete settlement batches to L1."""

    # A node's CometBFT RPC, for abci_query /settlement/pending.
    node_rpc_url: str = "http://127.0.0.1:26657"
    l1_rpc_url: str = "http://127.0.0.1:8545"
    # The Locking contract (0x-hex).
    contract_address: str = ""
    # The key that pays the gas: JSON {"private_key": hex} (like signer_key.json) or bare hex.
    sender_key_file: str = "config/relayer_key.json"
    poll_interval_s: float = 2.0
    # Retries after a failure wait 2x longer each time, up to this.
    max_backoff_s: float = 60.0
    # Prometheus metrics on http://<address>/metrics (tcp://host:port; "" = off).
    metrics_address: str = ""


def _coerce_relayer(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # TOML writes 2 for 2.0
    return _coerce(f"[relayer] {name}", value, default)


def load_relayer_config(home: Path, overrides: dict[str, Any] | None = None) -> RelayerConfig:
    section = read_toml_section(home, "relayer")
    defaults = RelayerConfig()
    unknown = sorted(set(section) - {f.name for f in fields(RelayerConfig)})
    if unknown:
        raise ConfigError(f"unknown keys in [relayer]: {', '.join(unknown)}")
    values = {k: _coerce_relayer(k, v, getattr(defaults, k)) for k, v in sorted(section.items())}
    config = replace(defaults, **values, **{k: v for k, v in (overrides or {}).items() if v})
    for name in ("node_rpc_url", "l1_rpc_url"):
        if not getattr(config, name).startswith(("http://", "https://")):
            raise ConfigError(f"[relayer] {name} must be http(s)://: {getattr(config, name)!r}")
    address = config.contract_address
    if not (address.startswith("0x") and len(address) == 42):
        raise ConfigError(f"[relayer] contract_address must be a 0x address: {address!r}")
    if config.poll_interval_s <= 0 or config.max_backoff_s < config.poll_interval_s:
        raise ConfigError("[relayer] poll_interval_s must be positive and max_backoff_s "
                          "at least poll_interval_s")
    return config
