"""The sidecar process: a watcher loop that polls L1, an L2 follower, and the gRPC service.

`run_sidecar(home, config)` blocks until SIGINT/SIGTERM (or `stop` is set).
The watcher never crashes the process: L1 failures back off exponentially
(capped) and log one line per failure kind; a bug is logged with its traceback
and retried the same way; a reorg deeper than the finality stops the watcher,
loudly, while the service goes on serving the confirmed events it has. After
each poll the watcher loop also fetches the confirmed L1 blocks' randomness
that Observed was asked for. With `l2_rpc_url` set, a second thread follows
the L2 node (abci_app/l2/follower.py) under the same failure policy.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from abci_app.l1.cursor import LevelCursorStore
from abci_app.l1.metrics import build_sidecar_registry
from abci_app.l1.service import sidecar_pb, start_sidecar_server
from abci_app.l1.source import JsonRpcSource, L1Error
from abci_app.l1.view import ObservedLog, RandomnessCache
from abci_app.l1.watcher import (
    DEFAULT_CONFIRMATIONS,
    FINALITY_MODES,
    Watcher,
    WatcherConfig,
    WatcherHaltedError,
)
from abci_app.l2.follower import L2Follower
from abci_app.l2.source import L2JsonRpc
from abci_app.node.config import ConfigError
from abci_app.node.metrics import start_metrics_server

log = logging.getLogger("seqset.sidecar")

SOCKET_NAME = "sidecar.sock"
# Ethereum finalizes about two epochs (2 x 32 slots) behind the tip.
FINALIZED_LAG_BLOCKS = 64
DEFAULT_SEED_L1_DELAY_BLOCKS = 16  # chain Params.seed_l1_delay_blocks when genesis omits it
REPEAT_LOG_INTERVAL_S = 30.0  # the same failure kind is logged again at most this often


@dataclass(frozen=True)
class SidecarConfig:
    # The L1 JSON-RPC endpoint (HTTP).
    l1_rpc_url: str = "http://127.0.0.1:8545"
    # The Locking contract, 0x-prefixed hex (required).
    contract_address: str = ""
    # The first L1 block to scan: the contract's deployment block (>= 1).
    start_block: int = 1
    # Blocks on top of a log's block before it counts ("confirmations" finality).
    confirmations: int = DEFAULT_CONFIRMATIONS
    # "confirmations" or "finalized" (at or below L1's finalized block).
    finality: str = "confirmations"
    # Seconds between polls once caught up; also the first retry delay.
    poll_interval_s: float = 2.0
    # gRPC listen address: unix:/abs/path, host:port or tcp://host:port;
    # "" = unix:<home>/sidecar.sock.
    listen_address: str = ""
    # Blocks per eth_getLogs request.
    max_range: int = 2000
    # The expected L1 chain id; 0 = pin the first one the node reports.
    chain_id: int = 0
    # Per-request L1 timeout, and the cap of the exponential retry delay.
    request_timeout_s: float = 10.0
    max_backoff_s: float = 60.0
    # LevelDB folder for the cursor and confirmed events, relative to the home.
    db_dir: str = "data/sidecar.db"
    # The L2 node's JSON-RPC endpoint (HTTP); "" = follow no L2 (no L2 headers reported).
    l2_rpc_url: str = ""
    # The expected L2 chain id; 0 = pin the first one the L2 node reports.
    l2_chain_id: int = 0
    # Seconds between L2 polls once caught up.
    l2_poll_interval_s: float = 0.2
    # Prometheus metrics on http://<address>/metrics (tcp://host:port; "" = off).
    metrics_address: str = ""


def parse_sidecar_config(section: dict[str, Any]) -> SidecarConfig:
    """A SidecarConfig from a TOML [sidecar] table; unknown keys and bad types raise."""
    defaults = SidecarConfig()
    known = {f.name: getattr(defaults, f.name) for f in fields(SidecarConfig)}
    values: dict[str, Any] = {}
    for key, value in sorted(section.items()):
        if key not in known:
            raise ConfigError(f"unknown key in [sidecar]: {key}")
        default = known[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, type(default)):
            raise ConfigError(f"[sidecar] {key} must be {type(default).__name__}: {value!r}")
        values[key] = value
    return validate_sidecar_config(replace(defaults, **values))


def compute_contract_bytes(address: str) -> bytes:
    raw = address[2:] if address.startswith(("0x", "0X")) else ""
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        value = b""
    if len(value) != 20:
        raise ConfigError(f"[sidecar] contract_address must be 0x + 40 hex digits: {address!r}")
    return value


def validate_sidecar_config(config: SidecarConfig) -> SidecarConfig:
    compute_contract_bytes(config.contract_address)
    if not config.l1_rpc_url.startswith(("http://", "https://")):
        raise ConfigError(f"[sidecar] l1_rpc_url must be http(s)://: {config.l1_rpc_url!r}")
    if config.finality not in FINALITY_MODES:
        raise ConfigError(f"[sidecar] finality must be one of {FINALITY_MODES}")
    if config.start_block < 1 or config.confirmations < 0 or config.max_range < 1:
        raise ConfigError("[sidecar] start_block >= 1, confirmations >= 0, max_range >= 1")
    if config.l2_rpc_url and not config.l2_rpc_url.startswith(("http://", "https://")):
        raise ConfigError(f"[sidecar] l2_rpc_url must be http(s)://: {config.l2_rpc_url!r}")
    if config.chain_id < 0 or config.l2_chain_id < 0:
        raise ConfigError("[sidecar] chain_id and l2_chain_id must be >= 0")
    for name in ("poll_interval_s", "request_timeout_s", "max_backoff_s", "l2_poll_interval_s"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"[sidecar] {name} must be positive")
    return config


def compute_seed_delay_warning(
    confirmations: int, finality: str, seed_l1_delay_blocks: int
) -> str | None:
    """A warning when our L1 lag reaches seed_l1_delay_blocks: then the L1 block a seed
    is drawn from may already be mined, its randomness public, when the chain names it."""
    lag = FINALIZED_LAG_BLOCKS if finality == "finalized" else confirmations
    if lag < seed_l1_delay_blocks:
        return None
    setting = (f'finality = "finalized" (about {FINALIZED_LAG_BLOCKS} blocks)'
               if finality == "finalized" else f"confirmations = {confirmations}")
    return (f"[sidecar] {setting} lags L1 by at least genesis seed_l1_delay_blocks = "
            f"{seed_l1_delay_blocks}: epoch seeds may be drawn from L1 blocks already mined "
            "when named; raise seed_l1_delay_blocks above the sidecars' lag")


def warn_about_seed_delay(home: Path, config: SidecarConfig) -> None:
    """Logs compute_seed_delay_warning against the home's genesis; never fails the start."""
    try:
        genesis = json.loads((home / "config" / "genesis.json").read_text())
        raw = genesis.get("app_state", {}).get("params", {}).get(
            "seed_l1_delay_blocks", DEFAULT_SEED_L1_DELAY_BLOCKS)
        delay = int(raw)
    except (OSError, ValueError, TypeError, AttributeError):
        return  # no readable genesis here: nothing to compare against
    warning = compute_seed_delay_warning(config.confirmations, config.finality, delay)
    if warning is not None:
        log.warning("%s", warning)


def compute_backoff_s(failures: int, base_s: float, cap_s: float) -> float:
    """base, 2*base, 4*base, ... capped: the delay after the n-th consecutive failure."""
    return float(min(cap_s, base_s * 2 ** min(max(failures - 1, 0), 30)))


class LoopState:
    """What the watcher loop knows beyond the watcher: its failures, for Status and logs."""

    def __init__(self, what: str = "L1") -> None:
        self.what = what  # the node polled, for log lines
        self.failures = 0
        self.last_error = ""
        self._last_logged: dict[str, float] = {}

    def record_failure(self, kind: str, message: str, delay_s: float, traceback: bool) -> None:
        self.failures += 1
        self.last_error = f"{kind}: {message}"
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < REPEAT_LOG_INTERVAL_S:
            return
        self._last_logged[kind] = now
        log.log(logging.ERROR if traceback else logging.WARNING,
                "%s poll failed [%s]: %s (failure %d in a row; retrying in %.1fs)",
                self.what, kind, message, self.failures, delay_s, exc_info=traceback)

    def record_success(self) -> None:
        if self.failures:
            log.info("%s polling recovered after %d failures", self.what, self.failures)
        self.failures = 0
        self.last_error = ""
        self._last_logged.clear()


class MixHashSource(Protocol):
    def get_mix_hash(self, number: int) -> bytes | None: ...


def fetch_randomness(source: MixHashSource, cache: RandomnessCache, confirmed: int) -> None:
    """Fetches the wanted randomness of confirmed L1 blocks (by number: they are final to us)."""
    for height in cache.get_wanted():
        if height > confirmed:
            continue
        mix_hash = source.get_mix_hash(height)
        if mix_hash is not None:
            cache.put(height, mix_hash)


def run_watcher(watcher: Watcher, state: LoopState, config: SidecarConfig,
                stop: threading.Event, randomness: RandomnessCache | None = None,
                mix_source: MixHashSource | None = None) -> None:
    """Polls until `stop` or a halt; never raises."""
    while not stop.is_set():
        try:
            result = watcher.poll_once()
            if randomness is not None and mix_source is not None:
                fetch_randomness(mix_source, randomness, watcher.cursor.confirmed_height)
        except WatcherHaltedError as exc:
            state.last_error = f"halted: {exc}"
            return
        except L1Error as exc:
            delay = compute_backoff_s(state.failures + 1, config.poll_interval_s,
                                      config.max_backoff_s)
            state.record_failure(exc.kind, str(exc), delay, traceback=False)
        except Exception as exc:  # noqa: BLE001 - a bug or a store failure: log, back off, retry
            delay = compute_backoff_s(state.failures + 1, config.poll_interval_s,
                                      config.max_backoff_s)
            state.record_failure(type(exc).__name__, str(exc), delay, traceback=True)
        else:
            state.record_success()
            delay = config.poll_interval_s if result.caught_up else 0.0
        stop.wait(delay)


def run_l2_follower(follower: L2Follower, state: LoopState, config: SidecarConfig,
                    stop: threading.Event) -> None:
    """Follows the L2 node until `stop`; never raises."""
    while not stop.is_set():
        try:
            caught_up = follower.poll_once()
        except L1Error as exc:
            delay = compute_backoff_s(state.failures + 1, config.l2_poll_interval_s,
                                      config.max_backoff_s)
            state.record_failure(exc.kind, str(exc), delay, traceback=False)
        except Exception as exc:  # noqa: BLE001 - a bug: log, back off, retry
            delay = compute_backoff_s(state.failures + 1, config.l2_poll_interval_s,
                                      config.max_backoff_s)
            state.record_failure(type(exc).__name__, str(exc), delay, traceback=True)
        else:
            state.record_success()
            delay = config.l2_poll_interval_s if caught_up else 0.0
        stop.wait(delay)


def start_l2_follower(config: SidecarConfig, stop: threading.Event) -> L2Follower | None:
    """The L2 follower and its thread, or None when no L2 is configured."""
    if not config.l2_rpc_url:
        return None
    follower = L2Follower(L2JsonRpc(config.l2_rpc_url, config.request_timeout_s),
                          chain_id=config.l2_chain_id)
    thread = threading.Thread(target=run_l2_follower, name="l2-follower", daemon=True,
                              args=(follower, LoopState("L2"), config, stop))
    thread.start()
    return follower


def build_status(watcher: Watcher, view: ObservedLog, state: LoopState) -> Any:
    confirmed, last_nonce = view.get_tip()
    scanned, pending = watcher.get_progress()
    return sidecar_pb.StatusResponse(
        l1_head=watcher.head, confirmed_l1_height=confirmed, last_observed_nonce=last_nonce,
        last_error=state.last_error or (f"halted: {watcher.halted}" if watcher.halted else ""),
        halted=bool(watcher.halted), scanned_l1_height=max(scanned, 0), pending_events=pending,
        chain_id=watcher.cursor.chain_id, contract_address=watcher.config.contract_address,
        consecutive_failures=state.failures)  # fmt: skip


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGINT/SIGTERM set `stop`; only possible from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the sidecar", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def run_sidecar(home: str, config: SidecarConfig, stop: threading.Event | None = None) -> None:
    """Runs the sidecar under `home` until SIGINT/SIGTERM or `stop` is set."""
    config = validate_sidecar_config(config)
    stop = stop or threading.Event()
    home_path = Path(home)
    warn_about_seed_delay(home_path, config)
    db_path = Path(config.db_dir)
    store = LevelCursorStore(db_path if db_path.is_absolute() else home_path / db_path)
    try:
        view = ObservedLog()
        l1 = JsonRpcSource(config.l1_rpc_url, config.request_timeout_s)
        watcher = Watcher(
            l1, store,
            WatcherConfig(
                contract_address=compute_contract_bytes(config.contract_address),
                start_block=config.start_block, confirmations=config.confirmations,
                finality=config.finality, max_range=config.max_range, chain_id=config.chain_id),
            view)  # fmt: skip
        state = LoopState()
        randomness = RandomnessCache()
        address = config.listen_address or f"unix:{home_path.resolve() / SOCKET_NAME}"
        l2 = start_l2_follower(config, stop)
        server, _ = start_sidecar_server(address, view, lambda: build_status(watcher, view, state),
                                         l2, randomness)
        metrics = start_metrics_server(config.metrics_address,
                                       build_sidecar_registry(watcher, view, state, l2))
        install_signal_handlers(stop)
        try:
            run_watcher(watcher, state, config, stop, randomness, l1)
            stop.wait()  # a halted watcher still serves what it has
        finally:
            server.stop(grace=1.0).wait()
            if metrics is not None:
                metrics.stop()
    finally:
        store.close()
    log.info("sidecar stopped")
