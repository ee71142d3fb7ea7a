"""The sidecar process: a watcher loop that polls L1, and the gRPC service beside it.

`run_sidecar(home, config)` blocks until SIGINT/SIGTERM (or `stop` is set).
The watcher never crashes the process: L1 failures back off exponentially
(capped) and log one line per failure kind; a bug is logged with its traceback
and retried the same way; a reorg deeper than the finality stops the watcher,
loudly, while the service goes on serving the confirmed events it has.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import FrameType
from typing import Any

from abci_app.l1.cursor import LevelCursorStore
from abci_app.l1.service import sidecar_pb, start_sidecar_server
from abci_app.l1.source import JsonRpcSource, L1Error
from abci_app.l1.view import ObservedLog
from abci_app.l1.watcher import FINALITY_MODES, Watcher, WatcherConfig, WatcherHaltedError
from abci_app.node.config import ConfigError

log = logging.getLogger("seqset.sidecar")

SOCKET_NAME = "sidecar.sock"
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
    confirmations: int = 12
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
    if config.chain_id < 0:
        raise ConfigError("[sidecar] chain_id must be >= 0")
    for name in ("poll_interval_s", "request_timeout_s", "max_backoff_s"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"[sidecar] {name} must be positive")
    return config


def compute_backoff_s(failures: int, base_s: float, cap_s: float) -> float:
    """base, 2*base, 4*base, ... capped: the delay after the n-th consecutive failure."""
    return float(min(cap_s, base_s * 2 ** min(max(failures - 1, 0), 30)))


class LoopState:
    """What the watcher loop knows beyond the watcher: its failures, for Status and logs."""

    def __init__(self) -> None:
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
                "L1 poll failed [%s]: %s (failure %d in a row; retrying in %.1fs)",
                kind, message, self.failures, delay_s, exc_info=traceback)

    def record_success(self) -> None:
        if self.failures:
            log.info("L1 polling recovered after %d failures", self.failures)
        self.failures = 0
        self.last_error = ""
        self._last_logged.clear()


def run_watcher(watcher: Watcher, state: LoopState, config: SidecarConfig,
                stop: threading.Event) -> None:
    """Polls until `stop` or a halt; never raises."""
    while not stop.is_set():
        try:
            result = watcher.poll_once()
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
    db_path = Path(config.db_dir)
    store = LevelCursorStore(db_path if db_path.is_absolute() else home_path / db_path)
    try:
        view = ObservedLog()
        watcher = Watcher(
            JsonRpcSource(config.l1_rpc_url, config.request_timeout_s), store,
            WatcherConfig(
                contract_address=compute_contract_bytes(config.contract_address),
                start_block=config.start_block, confirmations=config.confirmations,
                finality=config.finality, max_range=config.max_range, chain_id=config.chain_id),
            view)  # fmt: skip
        state = LoopState()
        address = config.listen_address or f"unix:{home_path.resolve() / SOCKET_NAME}"
        server, _ = start_sidecar_server(address, view, lambda: build_status(watcher, view, state))
        install_signal_handlers(stop)
        try:
            run_watcher(watcher, state, config, stop)
            stop.wait()  # a halted watcher still serves what it has
        finally:
            server.stop(grace=1.0).wait()
    finally:
        store.close()
    log.info("sidecar stopped")
