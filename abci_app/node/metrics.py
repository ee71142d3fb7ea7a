"""Prometheus metrics: the table of every series, a tiny registry, text exposition, /metrics.

`METRICS` is the one home of metric names: each process (app, sidecar, relayer,
agent) builds a `Registry` of its own component's rows, and the Grafana
dashboard and alert rules in deploy/ may use only these names (a unit test
checks it). No client library: the text format 0.0.4 is a few lines.

Values are plain numbers recorded by their owner (the app at Commit, the
sidecar and agents from their own memory); a scrape renders what is recorded
and never reads consensus state.
"""

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

log = logging.getLogger("seqset.metrics")

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
APP, SIDECAR, RELAYER, AGENT = "app", "sidecar", "relayer", "agent"
# Seconds: ABCI methods take about a millisecond empty and up to seconds when loaded.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: str
    component: str
    help: str
    labels: tuple[str, ...] = ()


METRICS: tuple[MetricSpec, ...] = (
    # --- the app, recorded at FinalizeBlock, CheckTx and Commit -----------------------------
    MetricSpec("seqset_height", GAUGE, APP, "Last committed height."),
    MetricSpec("seqset_finalize_block_seconds", HISTOGRAM, APP, "FinalizeBlock latency."),
    MetricSpec("seqset_commit_seconds", HISTOGRAM, APP, "Commit latency (store write)."),
    MetricSpec("seqset_blocks_finalized_total", COUNTER, APP, "Blocks finalized since start."),
    MetricSpec("seqset_txs_ok_total", COUNTER, APP, "Block txs executed with code 0."),
    MetricSpec("seqset_txs_failed_total", COUNTER, APP, "Block txs executed with a non-zero code."),
    MetricSpec("seqset_checktx_total", COUNTER, APP, "CheckTx answers by result code name.",
               ("code",)),
    MetricSpec("seqset_proposals_rejected_total", COUNTER, APP, "Proposals this node rejected."),
    MetricSpec("seqset_vote_extensions_rejected_total", COUNTER, APP,
               "Vote extensions this node rejected."),
    MetricSpec("seqset_l1_events_attested_total", COUNTER, APP,
               "L1 events in attested txs of finalized blocks."),
    MetricSpec("seqset_l1_events_applied", GAUGE, APP,
               "Nonce of the last L1 event the chain applied (events applied so far)."),
    MetricSpec("seqset_l1_attested_height", GAUGE, APP, "Largest L1 confirmed height attested."),
    MetricSpec("seqset_epoch", GAUGE, APP, "Current epoch."),
    MetricSpec("seqset_producer", GAUGE, APP,
               "Sequencer id of the current epoch's producer (0: none)."),
    MetricSpec("seqset_validators", GAUGE, APP, "Validators in the latest validator set."),
    MetricSpec("seqset_sequencers_jailed", GAUGE, APP, "Sequencers jailed."),
    MetricSpec("seqset_validator_missed_blocks", GAUGE, APP,
               "Blocks missed in the signing window, per validator.", ("sequencer_id",)),
    MetricSpec("seqset_validator_power", GAUGE, APP, "Voting power, per validator.",
               ("sequencer_id",)),
    MetricSpec("seqset_settlement_pending_batches", GAUGE, APP,
               "Settlement batches formed and not yet settled on L1."),
    MetricSpec("seqset_settlement_pending_items", GAUGE, APP,
               "Items in the settlement batch in flight."),
    MetricSpec("seqset_settlement_in_flight_blocks", GAUGE, APP,
               "Blocks since the batch in flight was formed (0: none)."),
    MetricSpec("seqset_settlement_last_settled_nonce", GAUGE, APP,
               "Nonce of the last batch the chain saw settle on L1."),
    MetricSpec("seqset_l2_attested_height", GAUGE, APP, "Attested L2 head height."),
    # --- the sidecar, read from its own memory at each scrape -------------------------------
    MetricSpec("seqset_sidecar_up", GAUGE, SIDECAR,
               "1 while the L1 watcher polls without failing, else 0."),
    MetricSpec("seqset_sidecar_l1_head", GAUGE, SIDECAR, "L1 head the watcher last saw."),
    MetricSpec("seqset_sidecar_l1_confirmed_height", GAUGE, SIDECAR, "L1 height confirmed."),
    MetricSpec("seqset_sidecar_l1_lag_blocks", GAUGE, SIDECAR,
               "L1 head minus confirmed height."),
    MetricSpec("seqset_sidecar_events_confirmed_total", COUNTER, SIDECAR,
               "L1 events confirmed (the last confirmed event nonce)."),
    MetricSpec("seqset_sidecar_poll_failures", GAUGE, SIDECAR, "L1 poll failures in a row."),
    MetricSpec("seqset_sidecar_l2_head", GAUGE, SIDECAR,
               "Newest L2 block the follower holds (0: no L2)."),
    # --- the settlement relayer -------------------------------------------------------------
    MetricSpec("seqset_relayer_batches_settled_total", COUNTER, RELAYER,
               "Batches this relayer settled on L1."),
    MetricSpec("seqset_relayer_failures_total", COUNTER, RELAYER, "Relayer steps that failed."),
    MetricSpec("seqset_relayer_consecutive_failures", GAUGE, RELAYER,
               "Relayer steps failed in a row."),
    # --- the sequencer agent ----------------------------------------------------------------
    MetricSpec("seqset_agent_blocks_produced_total", COUNTER, AGENT,
               "L2 blocks this agent produced."),
    MetricSpec("seqset_agent_l2_head", GAUGE, AGENT, "L2 head the agent last read."),
    MetricSpec("seqset_agent_failures_total", COUNTER, AGENT, "Agent steps that failed."),
)
METRICS_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}


def compute_series_names(specs: Iterable[MetricSpec] = METRICS) -> set[str]:
    """Every series name a scrape can show: histograms add _bucket, _sum and _count."""
    names: set[str] = set()
    for spec in specs:
        names.add(spec.name)
        if spec.kind == HISTOGRAM:
            names |= {spec.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs)
    return "{" + body + "}" if body else ""


class Metric:
    """One table row's values, keyed by label values (() when it has no labels)."""

    def __init__(self, spec: MetricSpec, lock: threading.Lock) -> None:
        self.spec = spec
        self._lock = lock
        self._values: dict[tuple[str, ...], float] = {}
        self._function: Callable[[], float] | None = None

    def _key(self, labels: Mapping[str, object]) -> tuple[str, ...]:
        if set(labels) != set(self.spec.labels):
            raise ValueError(f"{self.spec.name} takes labels {self.spec.labels}, "
                             f"got {sorted(labels)}")
        return tuple(str(labels[name]) for name in self.spec.labels)

    def inc(self, amount: float = 1, **labels: object) -> None:
        if amount < 0 and self.spec.kind == COUNTER:
            raise ValueError(f"counter {self.spec.name} cannot go down")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def set(self, value: float, **labels: object) -> None:
        """A gauge's value, or a counter's total when its owner keeps the count."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def replace(self, values: Mapping[tuple[str, ...], float]) -> None:
        """Every labelled value at once: label sets not given disappear (a validator left)."""
        with self._lock:
            self._values = dict(values)

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the value at each scrape (memory only: never consensus state)."""
        self._function = function

    def get(self, **labels: object) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0)

    def samples(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        if self._function is not None:
            return [(self.spec.name, (), float(self._function()))]
        with self._lock:
            items = sorted(self._values.items())
        return [(self.spec.name, tuple(zip(self.spec.labels, key, strict=True)), value)
                for key, value in items]


class Histogram(Metric):
    """Cumulative buckets, _sum and _count (no labels)."""

    def __init__(self, spec: MetricSpec, lock: threading.Lock,
                 buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        super().__init__(spec, lock)
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        with self._lock:
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
            self._sum += value
            self._count += 1

    def samples(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        name = self.spec.name
        out = [(name + "_bucket", (("le", format_value(bound)),), float(n))
               for bound, n in zip(self.buckets, counts, strict=True)]
        out.append((name + "_bucket", (("le", "+Inf"),), float(count)))
        return out + [(name + "_sum", (), total), (name + "_count", (), float(count))]


class Registry:
    """One component's metrics, in table order; names outside the table are refused."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._lock = threading.Lock()
        self._metrics: dict[str, Metric] = {}
        for spec in METRICS:
            if spec.component == component:
                kind = Histogram if spec.kind == HISTOGRAM else Metric
                self._metrics[spec.name] = kind(spec, self._lock)
        if not self._metrics:
            raise ValueError(f"no metrics for component {component!r}")

    def __getitem__(self, name: str) -> Metric:
        metric = self._metrics.get(name)
        if metric is None:
            raise KeyError(f"{name} is not a {self.component} metric in METRICS")
        return metric

    def histogram(self, name: str) -> Histogram:
        metric = self[name]
        if not isinstance(metric, Histogram):
            raise TypeError(f"{name} is not a histogram")
        return metric

    def render(self) -> str:
        """The Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        for metric in self._metrics.values():
            spec = metric.spec
            lines += [f"# HELP {spec.name} {spec.help}", f"# TYPE {spec.name} {spec.kind}"]
            for name, labels, value in metric.samples():
                lines.append(f"{name}{format_labels(labels)} {format_value(value)}")
        return "\n".join(lines) + "\n"


def parse_metrics_address(address: str) -> tuple[str, int]:
    """(host, port) from tcp://host:port or host:port."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme not in ("tcp", "http") or not parsed.hostname or parsed.port is None:
        raise ValueError(f"metrics need a tcp://host:port address, got {address!r}")
    return parsed.hostname, parsed.port


class MetricsServer:
    """GET /metrics renders `render()`; a daemon thread, stopped with `stop`."""

    def __init__(self, address: str, render: Callable[[], str]) -> None:
        host, port = parse_metrics_address(address)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:  # name the address: a bare "[Errno 98]" says nothing
            raise OSError(exc.errno, f"cannot serve metrics on {address}: {exc.strerror}"
                          ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", *self._server.server_address[:2])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_metrics_server(address: str, registry: Registry) -> MetricsServer | None:
    """Serves `registry` on `address`; None when the address is "" (metrics off)."""
    if not address:
        return None
    server = MetricsServer(address, registry.render)
    server.start()
    return server
