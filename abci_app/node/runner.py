"""Starts the app's servers, and supervises `cometbft` beside it for `seqset node`."""

import asyncio
import contextlib
import logging
import os
import signal
from concurrent import futures
from pathlib import Path

import grpc

from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.metrics import AppMetrics
from abci_app.handlers.proposals import ProposalHandler
from abci_app.handlers.query_service import add_query_service
from abci_app.handlers.sidecar_feed import SidecarFeed
from abci_app.handlers.snapshots import SnapshotManager
from abci_app.l1.client import SidecarClient
from abci_app.node.config import AppConfig, resolve_path
from abci_app.node.home import read_signer_key
from abci_app.node.logs import set_height_source
from abci_app.node.metrics import MetricsServer
from abci_app.server.grpc_server import start_grpc_server
from abci_app.server.socket_server import AbciSocketServer, parse_listen_address
from abci_app.store.state_store import StateStore

METRICS_SNAPSHOT_INTERVAL_S = 1.0  # well under any scrape interval

log = logging.getLogger("seqset.runner")


def build_app(home: Path, config: AppConfig) -> SeqsetApp:
    db_dir = resolve_path(home, config.db_dir)
    db_dir.parent.mkdir(parents=True, exist_ok=True)
    feed = None
    if config.sidecar_address:
        feed = SidecarFeed(SidecarClient(config.sidecar_address),
                           timeout_s=config.extend_vote_timeout_ms / 1000)
    proposals = ProposalHandler(feed, settlement_key=load_settlement_key(home, config))
    snapshots = SnapshotManager(home / "data" / "snapshots", config.snapshot_interval,
                                config.snapshot_keep_recent, config.snapshot_chunk_bytes)
    app = SeqsetApp(StateStore(str(db_dir)), proposals, snapshots)
    set_height_source(app.get_log_height)  # every log line names the height in hand
    return app


def load_settlement_key(home: Path, config: AppConfig) -> bytes | None:
    """The signer key that signs settlement batches; a missing file is not an error
    (this validator then signs none, and > 2/3 of the others still settle)."""
    path = resolve_path(home, config.signer_key_file)
    if not path.exists():
        log.warning("no signer key at %s: this validator will not sign settlement batches",
                    path)
        return None
    _, key = read_signer_key(home, path)
    return key


def start_query_server(app: SeqsetApp, address: str) -> grpc.Server:
    """The seqset.v1.Query gRPC service over committed state."""
    kind, where = parse_listen_address(address)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    # Each answer reads a fresh overlay of committed state under the app's lock,
    # so it never straddles a Commit.
    add_query_service(server, app.store.overlay, app.lock)
    server.add_insecure_port(f"unix:{where}" if kind == "unix" else str(where))
    server.start()
    log.info("seqset.v1.Query gRPC service on %s", address)
    return server


class AppServers:
    """The ABCI transport plus the optional query and metrics endpoints."""

    def __init__(self, app: SeqsetApp, config: AppConfig) -> None:
        self.app = app
        self.config = config
        self._socket: AbciSocketServer | None = None
        self._grpc: list[grpc.Server] = []
        self._metrics: MetricsServer | None = None

    async def start(self) -> None:
        self._start_sidecar_feed()
        cfg = self.config
        if cfg.transport == "grpc":
            self._grpc.append(start_grpc_server(self.app.handle, cfg.abci_address,
                                                cfg.max_frame_bytes))
        else:
            self._socket = AbciSocketServer(self.app.handle, cfg.abci_address, cfg.max_frame_bytes)
            await self._socket.start()
        if cfg.query_grpc_address:
            self._grpc.append(start_query_server(self.app, cfg.query_grpc_address))
        if cfg.metrics_address:
            # filled from the next Commit on; state read at most once a second
            self.app.metrics = AppMetrics(snapshot_interval_s=METRICS_SNAPSHOT_INTERVAL_S)
            self._metrics = MetricsServer(cfg.metrics_address, self.app.metrics.render)
            self._metrics.start()

    def _start_sidecar_feed(self) -> None:
        """Polls our sidecar in the background; ExtendVote reads its answer from memory."""
        feed = self.app.proposals.feed
        if feed is None:
            return
        if self.app.store.last_height > 0:  # a restart: no Commit will point it for a while
            self.app.proposals.note_commit(self.app.store.overlay())
        feed.start()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        for server in self._grpc:
            server.stop(grace=1)
        if self._metrics is not None:
            self._metrics.stop()
        if self.app.proposals.feed is not None:
            await asyncio.to_thread(self.app.proposals.feed.stop)
        self.app.store.close()


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_app(home: Path, config: AppConfig) -> int:
    servers = AppServers(build_app(home, config), config)
    await servers.start()
    stop = asyncio.Event()
    _install_stop_signals(stop)
    log.info("seqset app running (home %s); Ctrl-C stops it", home)
    await stop.wait()
    log.info("stopping the app")
    await servers.stop()
    return 0


async def run_node(home: Path, config: AppConfig) -> int:
    """The app and cometbft as a pair: if either stops, both stop."""
    servers = AppServers(build_app(home, config), config)
    await servers.start()
    cometbft = await asyncio.create_subprocess_exec(
        config.cometbft_binary, "start", "--home", str(home),
        stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
    log.info("started cometbft (pid %d)", cometbft.pid)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    waiter = asyncio.create_task(cometbft.wait())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if waiter.done():
        code = waiter.result() or 1
        log.error("cometbft exited with code %s; stopping the app", waiter.result())
    else:
        log.info("stopping cometbft (pid %d)", cometbft.pid)
        with contextlib.suppress(ProcessLookupError):
            cometbft.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(waiter, timeout=20)
        except TimeoutError:
            log.error("cometbft did not stop within 20 s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cometbft.pid, signal.SIGKILL)
            await waiter
    stopper.cancel()
    await servers.stop()
    log.info("node stopped")
    return code
