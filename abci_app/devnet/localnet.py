"""A local network of seqset validators: homes, processes and waits.

Used by `scripts/localnet` and by the integration tests. Every process runs in
its own session and is stopped by PID; every wait has a timeout and a message
that says what it was waiting for.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abci_app import chain
from abci_app.devnet.ports import free_port, free_ports
from abci_app.node.config import (
    CONFIG_RELATIVE_PATH,
    AppConfig,
    read_toml_section,
    render_config,
)
from abci_app.node.home import (
    DEFAULT_LOCK_WEI,
    NodePorts,
    create_signer_key,
    patch_cometbft_config,
    read_node_id,
    read_validator_pubkey,
    run_cometbft_init,
    sequencer_entry,
    set_toml_value,
    write_genesis,
)
from abci_app.node.metrics import parse_metrics_address

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How the devnet runs the `seqset` command: the venv's interpreter, no PATH lookup.
SEQSET_COMMAND = (sys.executable, "-m", "abci_app.node.cli")
DEFAULT_COMETBFT = str(PROJECT_ROOT / ".bin" / "cometbft")


class WaitTimeoutError(AssertionError):
    """A wait ran out of time; the message says for what."""


def free_metrics_address() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def read_metrics_url(home: Path, section: str) -> str:
    """The /metrics URL of the process configured by [section] of the home's seqset.toml."""
    address = str(read_toml_section(home, section).get("metrics_address", ""))
    if not address:
        raise RuntimeError(f"{home}: [{section}] has no metrics_address")
    host, port = parse_metrics_address(address)
    return f"http://{host}:{port}/metrics"


def wait_until(what: str, check: Callable[[], Any], timeout_s: float,
               interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except WaitTimeoutError:
            raise  # the check saw the thing die: no point waiting longer
        except Exception as exc:  # the thing may not be up yet
            last_error = exc
        time.sleep(interval_s)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise WaitTimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}{detail}")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


@dataclass
class LocalNode:
    index: int
    home: Path
    ports: NodePorts
    cometbft: str
    app_proc: subprocess.Popen[bytes] | None = None
    cometbft_proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rpc}"

    @property
    def metrics_url(self) -> str:
        return read_metrics_url(self.home, "app")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (the child owns it)
        full_env = {**os.environ, **self.extra_env, **(env or {})}
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def start_app(self, env: dict[str, str] | None = None) -> None:
        self.app_proc = self._spawn(
            "app", [*SEQSET_COMMAND, "start", "--home", str(self.home)], env)
        wait_until(f"node {self.index}'s app to listen on {self.ports.abci}",
                   lambda: self._app_listening(), 30)

    def _app_listening(self) -> bool:
        if self.app_proc is not None and self.app_proc.poll() is not None:
            raise WaitTimeoutError(
                f"node {self.index}'s app exited with {self.app_proc.returncode}; "
                f"see {self.home / 'logs' / 'app.log'}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.ports.abci)) == 0

    def start_cometbft(self) -> None:
        self.cometbft_proc = self._spawn(
            "cometbft", [self.cometbft, "start", "--home", str(self.home)])

    def start(self) -> None:
        self.start_app()
        self.start_cometbft()

    def start_pair(self) -> None:
        """`seqset node`: app and cometbft supervised by one process."""
        self.app_proc = self._spawn(
            "node", [*SEQSET_COMMAND, "node", "--home", str(self.home)])

    def stop(self) -> None:
        stop_process(self.cometbft_proc)
        stop_process(self.app_proc)

    def rpc(self, method: str, **params: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"{self.rpc_url}/{method}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            body = json.loads(response.read())
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def height(self) -> int:
        return int(self.rpc("status")["sync_info"]["latest_block_height"])

    def wait_for_height(self, height: int, timeout_s: float = 60) -> int:
        return int(wait_until(f"node {self.index} to reach height {height}",
                              lambda: self.height() >= height and self.height(), timeout_s))

    def broadcast_tx(self, tx: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self.rpc("broadcast_tx_sync", tx="0x" + tx.hex())
        return result

    def abci_query(self, path: str, data: bytes = b"", prove: bool = False) -> dict[str, Any]:
        result = self.rpc("abci_query", path=f'"{path}"', data="0x" + data.hex(),
                          prove="true" if prove else "false")
        response: dict[str, Any] = result["response"]
        return response


class Localnet:
    def __init__(self, base: Path, size: int, chain_id: str = "seqset-localnet",
                 block_time_ms: int = 500, cometbft: str = DEFAULT_COMETBFT,
                 app_overrides: dict[str, Any] | None = None,
                 ports: list[NodePorts] | None = None) -> None:
        """`ports` reopens an existing network; by default free ports are picked."""
        if size < 1:
            raise ValueError("a localnet needs at least one validator")
        self.base = base
        self.chain_id = chain_id
        self.block_time_ms = block_time_ms
        self.cometbft = cometbft
        self.app_overrides = app_overrides or {}
        if ports is None:
            picked = free_ports(3 * size)
            ports = [NodePorts(*picked[3 * i:3 * i + 3]) for i in range(size)]
        self.nodes = [LocalNode(i, base / f"node{i}", ports[i], cometbft) for i in range(size)]

    def init(self, params: dict[str, Any] | None = None) -> None:
        """Homes plus a genesis whose sequencers are the nodes themselves."""
        sequencers = self.init_homes()
        self.write_genesis(chain.make_genesis_app_state(sequencers, params))

    def init_homes(self, extra_toml: Callable[[LocalNode], str] | None = None
                   ) -> list[dict[str, Any]]:
        """CometBFT homes, signer keys and seqset.toml; returns each node's sequencer entry."""
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(parents=True)
        sequencers = []
        for node in self.nodes:
            run_cometbft_init(self.cometbft, node.home)
            abci = f"tcp://127.0.0.1:{node.ports.abci}"
            patch_cometbft_config(node.home, f"node{node.index}", node.ports, abci,
                                  self.block_time_ms,
                                  str(self.app_overrides.get("transport", "socket")))
            signer = create_signer_key(node.home)
            sequencers.append(sequencer_entry(node.index + 1, signer,
                                              read_validator_pubkey(node.home), DEFAULT_LOCK_WEI))
            config = AppConfig(abci_address=abci, cometbft_binary=self.cometbft,
                               **{"metrics_address": free_metrics_address(),
                                  **self.app_overrides})
            extra = extra_toml(node) if extra_toml else ""
            (node.home / CONFIG_RELATIVE_PATH).write_text(render_config(config) + extra)
        return sequencers

    def add_home(self, ports: NodePorts, app_overrides: dict[str, Any] | None = None
                 ) -> LocalNode:
        """A new node's home with the network's genesis and peers (a full node to start)."""
        node = LocalNode(len(self.nodes), self.base / f"node{len(self.nodes)}", ports,
                         self.cometbft)
        self.nodes.append(node)
        run_cometbft_init(self.cometbft, node.home)
        abci = f"tcp://127.0.0.1:{ports.abci}"
        transport = str(self.app_overrides.get("transport", "socket"))
        patch_cometbft_config(node.home, f"node{node.index}", ports, abci,
                              self.block_time_ms, transport)
        create_signer_key(node.home)
        config = AppConfig(abci_address=abci, cometbft_binary=self.cometbft,
                           **{"metrics_address": free_metrics_address(), **self.app_overrides,
                              **(app_overrides or {})})
        (node.home / CONFIG_RELATIVE_PATH).write_text(render_config(config))
        first = self.nodes[0].home / "config"
        shutil.copyfile(first / "genesis.json", node.home / "config" / "genesis.json")
        peers = ",".join(f"{read_node_id(self.cometbft, n.home)}@127.0.0.1:{n.ports.p2p}"
                         for n in self.nodes[:-1])
        path = node.home / "config" / "config.toml"
        path.write_text(set_toml_value(path.read_text(), "p2p", "persistent_peers", f'"{peers}"'))
        return node

    def write_genesis(self, app_state: dict[str, Any]) -> None:
        peers = ",".join(f"{read_node_id(self.cometbft, n.home)}@127.0.0.1:{n.ports.p2p}"
                         for n in self.nodes)
        for node in self.nodes:
            write_genesis(node.home, self.chain_id, app_state)
            path = node.home / "config" / "config.toml"
            path.write_text(set_toml_value(path.read_text(), "p2p", "persistent_peers",
                                           f'"{peers}"'))
        genesis = (self.nodes[0].home / "config" / "genesis.json").read_text()
        for node in self.nodes[1:]:  # byte-identical genesis everywhere
            (node.home / "config" / "genesis.json").write_text(genesis)

    def start(self) -> None:
        for node in self.nodes:
            node.start_app()
        for node in self.nodes:
            node.start_cometbft()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def wait_for_height(self, height: int, timeout_s: float = 90) -> None:
        for node in self.nodes:
            node.wait_for_height(height, timeout_s)
