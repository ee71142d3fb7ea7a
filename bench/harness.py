"""Shared pieces of ./scripts/bench: figures, sizes, time budgets, nodes and the RPC load client.

Every figure is measured beside its reference in the same run and the same way, and
reported as a ratio. Targets come from issue 15; `holds` says whether each is met.
"""

import asyncio
import functools
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abci_app.devnet.localnet import DEFAULT_COMETBFT, Localnet, LocalNode, stop_process, wait_until

ABCI_CLI = Path(DEFAULT_COMETBFT).with_name("abci-cli")  # built beside cometbft by install

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is: `full` is the issue's list, `tiny` the smoke test's."""

    name: str
    sequencers: tuple[int, ...]
    commit_keys: tuple[int, ...]
    vote_validators: tuple[int, ...]
    window_s: float  # how long a live node is watched for a rate
    checktx_txs: int  # txs prepared per CheckTx kind (the run stops at window_s)
    localnet_size: int  # validators of the multi-validator figure
    l1_validators: int
    replay_blocks: int  # minimum chain length before the replay
    settle_quick: bool = True


FULL = Sizes("full", (100, 10_000, 100_000), (1_000, 100_000, 1_000_000), (4, 50, 150),
             window_s=10, checktx_txs=40_000, localnet_size=4, l1_validators=4,
             replay_blocks=1_000)
TINY = Sizes("tiny", (10, 100), (100, 1_000), (4,), window_s=1.5, checktx_txs=300,
             localnet_size=2, l1_validators=1, replay_blocks=20)
SIZES = {s.name: s for s in (FULL, TINY)}


@dataclass
class Figure:
    """One row of the table: our value beside its reference, both from this run."""

    group: str
    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    target: str = ""  # the target, in words
    holds: bool | None = None  # None: no target for this row
    higher_is_better: bool = True
    seconds: float = 0.0  # wall time this figure took
    notes: str = ""
    size: int = 0  # the item count the figure was measured at (for the profiler)

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0) or self.value is None:
            return None
        return self.value / self.reference


@dataclass
class Report:
    sizes: str
    figures: list[Figure] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    profile: str = ""
    started: float = field(default_factory=time.time)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def to_json(self) -> dict[str, Any]:
        rows = [{**asdict(f), "ratio": f.ratio} for f in self.figures]
        return {"sizes": self.sizes, "started_unix": int(self.started),
                "elapsed_s": round(time.time() - self.started, 1), "figures": rows,
                "errors": self.errors, "profile": self.profile}


def format_number(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}"


def render_table(report: Report) -> str:
    header = (f"{'figure':<44} {'value':>11} {'unit':<10} {'reference':>11} "
              f"{'ratio':>7}  {'target':<34} holds")
    lines = [header, "-" * len(header)]
    group = None
    for f in report.figures:
        if f.group != group:
            group = f.group
            lines.append(f"[{group}]")
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        holds = {True: "yes", False: "NO", None: ""}[f.holds]
        lines.append(f"  {f.name:<42} {format_number(f.value):>11} {f.unit:<10} "
                     f"{format_number(f.reference):>11} {ratio:>7}  {f.target:<34} {holds}")
        if f.reference_name:
            lines.append(f"  {'':<42} reference: {f.reference_name}")
    for name, error in report.errors.items():
        lines.append(f"[{name}] FAILED: {error}")
    return "\n".join(lines)


def save_report(report: Report, path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return path


def best_of(runs: int, fn: Callable[[], object], budget_s: float = 30.0) -> float:
    """The fastest of up to `runs` calls, stopping early when `budget_s` is spent."""
    best, deadline = float("inf"), time.monotonic() + budget_s
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return best


# --- live nodes ----------------------------------------------------------------------

def make_kvstore_homes(net: Localnet, base: Path, over_socket: bool = False
                       ) -> list[LocalNode]:
    """Copies of `net`'s homes with the same config.toml, keys and ports, running
    CometBFT's kvstore: built in (proxy_app = "kvstore"), or with `over_socket` as
    `abci-cli kvstore` behind the same ABCI socket our app uses (see running_socket_kvstore);
    the genesis validators written out (kvstore's InitChain returns none) and vote
    extensions on from height 1."""
    shutil.rmtree(base, ignore_errors=True)
    validators = []
    for node in net.nodes:
        key = json.loads((node.home / "config" / "priv_validator_key.json").read_text())
        validators.append({"address": key["address"], "pub_key": key["pub_key"],
                           "power": "10", "name": f"node{node.index}"})
    copies = []
    for node in net.nodes:
        home = base / node.home.name
        shutil.copytree(node.home / "config", home / "config")
        (home / "data").mkdir(parents=True)
        (home / "data" / "priv_validator_state.json").write_text(
            '{"height": "0", "round": 0, "step": 0}\n')
        config = home / "config" / "config.toml"
        text = config.read_text()
        if not over_socket:
            text = "\n".join('proxy_app = "kvstore"' if line.startswith("proxy_app =")
                             else line for line in text.splitlines()) + "\n"
        config.write_text(text.replace(str(node.home), str(home)))
        genesis_path = home / "config" / "genesis.json"
        genesis = json.loads(genesis_path.read_text())
        genesis["validators"] = validators
        genesis["app_state"] = {}
        genesis["consensus_params"]["abci"]["vote_extensions_enable_height"] = "1"
        genesis_path.write_text(json.dumps(genesis, indent=2) + "\n")
        copies.append(LocalNode(node.index, home, node.ports, node.cometbft))
    return copies


@contextmanager
def running_nodes(nodes: Sequence[LocalNode], with_app: bool) -> Iterator[None]:
    try:
        for node in nodes:
            if with_app:
                node.start_app()
        for node in nodes:
            node.start_cometbft()
        for node in nodes:
            node.wait_for_height(2, timeout_s=60)
        yield
    finally:
        for node in nodes:
            node.stop()


@contextmanager
def running_socket_kvstore(nodes: Sequence[LocalNode]) -> Iterator[None]:
    """`abci-cli kvstore` (CometBFT's kvstore as an out-of-process app) on each node's ABCI
    port, then the nodes: the reference that pays the same socket transport as seqset."""
    apps = [subprocess.Popen(
        [str(ABCI_CLI), "kvstore", "--address", f"tcp://127.0.0.1:{node.ports.abci}",
         "--log_level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for node in nodes]
    try:
        for node in nodes:
            wait_until(f"abci-cli kvstore on {node.ports.abci}",
                       functools.partial(_is_listening, node.ports.abci), 20)
        with running_nodes(nodes, with_app=False):
            yield
    finally:
        for app in apps:
            stop_process(app)


def _is_listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def measure_block_rate(node: LocalNode, window_s: float) -> float:
    """Blocks per second committed by `node` over `window_s` (after one warm-up block)."""
    start_height = node.wait_for_height(node.height() + 1, timeout_s=30)
    started = time.monotonic()
    time.sleep(window_s)
    return (node.height() - start_height) / (time.monotonic() - started)


def make_localnet(base: Path, size: int, block_time_ms: int) -> Localnet:
    net = Localnet(base, size, chain_id="seqset-bench", block_time_ms=block_time_ms,
                   cometbft=DEFAULT_COMETBFT)
    net.init()
    return net


def cometbft_version() -> str:
    out = subprocess.run([DEFAULT_COMETBFT, "version"], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


# --- the RPC load client ----------------------------------------------------------------

async def _send_all(port: int, txs: Iterable[bytes], connections: int, deadline: float
                    ) -> tuple[int, int]:
    """broadcast_tx_sync over `connections` keep-alive HTTP/1.1 connections, one request
    in flight on each; returns (answers, of which code != 0)."""
    queue = iter(txs)
    answers = rejected = 0

    async def worker() -> None:
        nonlocal answers, rejected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for tx in queue:
                if time.monotonic() > deadline:
                    return
                writer.write(b"GET /broadcast_tx_sync?tx=0x" + tx.hex().encode()
                             + b" HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = json.loads(await reader.readexactly(length))
                answers += 1
                if body.get("error") or body["result"]["code"] != 0:
                    rejected += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return answers, rejected


def measure_rejections(node: LocalNode, txs: Iterable[bytes], window_s: float,
                       connections: int = 16) -> tuple[float, float]:
    """(answers/s, share rejected) for `txs` sent as fast as `connections` allow."""
    wait_until("the node's RPC", lambda: node.height() >= 1, 30)
    started = time.monotonic()
    answers, rejected = asyncio.run(
        _send_all(node.ports.rpc, txs, connections, started + window_s))
    elapsed = time.monotonic() - started
    return answers / elapsed, (rejected / answers if answers else 0.0)


__all__ = ["FULL", "SIZES", "TINY", "Figure", "Report", "Sizes", "best_of", "render_table",
           "save_report", "stop_process"]
