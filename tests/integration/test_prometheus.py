"""Issue 16: Debian's `prometheus` scrapes every series of METRICS from a live localnet.

One module-scoped L2 localnet (4 validators: app, cometbft, sidecar and agent
each, plus the relayer); Prometheus runs with a generated config that scrapes
every app, sidecar, agent and the relayer each second, into a tmp storage
path. The test then asks its HTTP API (/api/v1/query) for every series the
code exports, and checks the values are sane.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abci_app.devnet.localnet import stop_process, wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.devnet.ports import free_ports
from abci_app.node.metrics import HISTOGRAM, METRICS

pytestmark = pytest.mark.integration

SETTINGS = L2Settings(block_interval_ms=500, epoch_length=10, rotation_timeout_s=10)
VALIDATORS = 4


def target(url: str) -> str:
    """host:port of a http://host:port/metrics URL."""
    return urllib.parse.urlparse(url).netloc


def write_prometheus_config(net: L2Localnet, path: Path) -> int:
    """One job per kind of process; returns how many targets it scrapes."""
    jobs = {
        "seqset_app": [target(n.metrics_url) for n in net.nodes],
        "seqset_sidecar": [target(net.sidecar_metrics_url(i)) for i in range(VALIDATORS)],
        "seqset_agent": [target(net.agent_metrics_url(i)) for i in range(VALIDATORS)],
        "seqset_relayer": [target(net.relayer_metrics_url)],
    }
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:",
                  f"      - targets: {json.dumps(targets)}"]
    path.write_text("\n".join(lines) + "\n")
    return sum(len(t) for t in jobs.values())


class Prometheus:
    def __init__(self, base: Path, config: Path) -> None:
        (self.port,) = free_ports(1)
        log = open(base / "prometheus.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={base / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            body = json.loads(response.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expr: str) -> list[float]:
        return [float(sample["value"][1]) for sample in self.query(expr)]

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str
            ) -> Iterator[tuple[L2Localnet, Prometheus]]:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus missing: ./scripts/install installs Debian's package")
    base = tmp_path_factory.mktemp("prometheus")
    net = L2Localnet(base / "net", VALIDATORS, block_time_ms=500, l2=SETTINGS,
                     cometbft=cometbft_binary)
    with net.running(height=1):
        config = base / "prometheus.yml"
        targets = write_prometheus_config(net, config)
        prometheus = Prometheus(base, config)
        try:
            # A tx CheckTx refuses, so that seqset_checktx_total has a code to show
            net.nodes[0].broadcast_tx(b"\xff\x00garbage")
            net.wait_for_attested_l2_height(3, timeout_s=90)
            wait_until(f"Prometheus to scrape all {targets} targets up "
                       f"(log: {base / 'prometheus.log'})",
                       lambda: prometheus.values("count(up == 1)") == [targets], 60)
            yield net, prometheus
        finally:
            prometheus.stop()


def test_every_exported_series_is_scraped(scraped: tuple[L2Localnet, Prometheus]) -> None:
    _, prometheus = scraped
    names = [spec.name + ("_count" if spec.kind == HISTOGRAM else "") for spec in METRICS]

    def missing() -> list[str]:
        return [name for name in names if not prometheus.query(name)]

    wait_until("every METRICS series in Prometheus", lambda: not missing(), 60)


def test_app_series_have_sane_values(scraped: tuple[L2Localnet, Prometheus]) -> None:
    _, prometheus = scraped
    heights = prometheus.values("seqset_height")
    assert len(heights) == VALIDATORS and min(heights) > 0, heights
    assert prometheus.values("min(seqset_finalize_block_seconds_count)")[0] > 0
    assert prometheus.values('min(seqset_commit_seconds_bucket{le="+Inf"})')[0] > 0
    assert prometheus.values('sum(seqset_checktx_total{code="TxDecodeError"})')[0] >= 1
    assert prometheus.values("seqset_validators") == [VALIDATORS] * VALIDATORS
    assert prometheus.values("max(seqset_sequencers_jailed)") == [0]
    # Every app reports every validator's window
    assert len(prometheus.values("seqset_validator_missed_blocks")) == VALIDATORS ** 2
    producers = prometheus.values("seqset_producer")
    assert all(1 <= p <= VALIDATORS for p in producers), producers
    assert min(prometheus.values("seqset_l2_attested_height")) > 0
    assert min(prometheus.values("seqset_l1_attested_height")) > 0
    assert min(prometheus.values("seqset_l1_events_applied")) >= 0
    assert min(prometheus.values("seqset_settlement_pending_batches")) >= 0


def test_sidecar_relayer_and_agent_series_have_sane_values(
    scraped: tuple[L2Localnet, Prometheus],
) -> None:
    _, prometheus = scraped
    assert prometheus.values("seqset_sidecar_up") == [1] * VALIDATORS
    assert min(prometheus.values("seqset_sidecar_l1_head")) > 0
    assert min(prometheus.values("seqset_sidecar_l1_confirmed_height")) > 0
    assert min(prometheus.values("seqset_sidecar_l1_lag_blocks")) >= 0
    assert min(prometheus.values("seqset_sidecar_events_confirmed_total")) >= 0
    assert min(prometheus.values("seqset_sidecar_l2_head")) > 0
    assert min(prometheus.values("seqset_agent_l2_head")) > 0
    assert prometheus.values("sum(seqset_agent_blocks_produced_total)")[0] > 0
    assert len(prometheus.values("seqset_relayer_consecutive_failures")) == 1
    assert prometheus.values("seqset_relayer_batches_settled_total")[0] >= 0
