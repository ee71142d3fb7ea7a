"""deploy/prometheus and deploy/grafana: promtool checks and tests the rules, and every
query uses only series the code exports (abci_app/node/metrics.py METRICS)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from abci_app.node.metrics import compute_series_names

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "seqset.json"
PROMETHEUS_BUILTINS = {"up"}  # series Prometheus itself adds to every target

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool missing: ./scripts/install installs it")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def compute_metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: seqset_* identifiers and any `name{` selector."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not series
    names = set(re.findall(r"\bseqset_[a-z0-9_]+\b", expr))
    names |= set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))
    return names


def get_alert_exprs() -> list[str]:
    return re.findall(r"^\s+expr: (.+)$", ALERTS.read_text(), flags=re.MULTILINE)


def get_dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@needs_promtool
def test_promtool_checks_the_rules_and_the_example_config() -> None:
    for args in (("check", "rules", str(ALERTS)), ("check", "config", str(PROMETHEUS_CONFIG))):
        result = run_promtool(*args)
        assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_rule_tests_pass() -> None:
    result = run_promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_invalid_rule_tests_fail_when_an_alert_stops_firing(tmp_path: Path) -> None:
    """The rule tests can fail: with a threshold raised out of reach, they do."""
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text().replace("> 200", "> 2000000"))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    result = run_promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result.returncode != 0
    assert "SeqsetSettlementBacklog" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_non_firing_case() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", ALERTS.read_text(), flags=re.MULTILINE))
    required = {"SeqsetValidatorMissingBlocks", "SeqsetSidecarDown", "SeqsetSidecarAbsent",
                "SeqsetSidecarLagging", "SeqsetValidatorSetShrinking", "SeqsetNoL2Progress",
                "SeqsetSettlementBacklog"}
    assert required <= alerts
    cases: dict[str, set[bool]] = {}
    current = ""
    for line in ALERTS_TEST.read_text().splitlines():
        found = re.match(r"^\s+alertname: (\w+)", line)
        if found:
            current = found.group(1)
        elif line.strip().startswith("exp_alerts:"):
            cases.setdefault(current, set()).add(not line.strip().endswith("[]"))
    for alert in sorted(alerts):
        assert cases.get(alert) == {True, False}, f"{alert}: cases {cases.get(alert)}"


def test_alert_rules_use_only_exported_series() -> None:
    known = compute_series_names() | PROMETHEUS_BUILTINS
    for expr in get_alert_exprs():
        assert compute_metric_names(expr) <= known, expr


def test_grafana_dashboard_parses_and_uses_only_exported_series() -> None:
    exprs = get_dashboard_exprs()
    assert len(exprs) >= 20
    known = compute_series_names() | PROMETHEUS_BUILTINS
    for expr in exprs:
        unknown = compute_metric_names(expr) - known
        assert not unknown, f"{expr}: {unknown} are not in METRICS"


def test_every_issue_series_is_on_the_dashboard() -> None:
    used = set().union(*(compute_metric_names(e) for e in get_dashboard_exprs()))
    for name in ("seqset_height", "seqset_finalize_block_seconds_bucket",
                 "seqset_commit_seconds_bucket", "seqset_checktx_total",
                 "seqset_sidecar_l1_head", "seqset_sidecar_l1_confirmed_height",
                 "seqset_sidecar_l1_lag_blocks", "seqset_l1_events_attested_total",
                 "seqset_l1_events_applied", "seqset_producer", "seqset_sequencers_jailed",
                 "seqset_validator_missed_blocks", "seqset_settlement_pending_items",
                 "seqset_l2_attested_height"):
        assert name in used, name


def test_the_name_check_catches_an_unknown_series() -> None:
    assert compute_metric_names('rate(seqset_nope_total[5m]) + foo{a="b"}') == {
        "seqset_nope_total", "foo"}
