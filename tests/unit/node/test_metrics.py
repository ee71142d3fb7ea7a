"""The metrics registry: the one table of names and the Prometheus text format."""

import re
import socket
import urllib.request

import pytest

from abci_app.node.metrics import (
    APP,
    HISTOGRAM,
    METRICS,
    SIDECAR,
    Registry,
    compute_series_names,
    format_labels,
    format_value,
    parse_metrics_address,
    start_metrics_server,
)

# One sample line of the text format 0.0.4: name, optional labels, a value.
SAMPLE_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
    r"(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$")


def assert_valid_exposition(text: str) -> None:
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
        else:
            assert SAMPLE_LINE.match(line), line


def test_every_name_is_unique_prefixed_and_typed() -> None:
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    for spec in METRICS:
        assert re.fullmatch(r"seqset_[a-z0-9_]+", spec.name), spec.name
        assert spec.kind in ("counter", "gauge", "histogram")
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert spec.help.endswith("."), spec.name


def test_histogram_series_names_include_bucket_sum_and_count() -> None:
    names = compute_series_names()
    histograms = [spec.name for spec in METRICS if spec.kind == HISTOGRAM]
    assert histograms
    for name in histograms:
        assert {name + "_bucket", name + "_sum", name + "_count"} <= names


def test_render_is_valid_text_format_with_help_and_type_for_each_row() -> None:
    registry = Registry(APP)
    registry["seqset_height"].set(42)
    registry["seqset_checktx_total"].inc(code="ok")
    registry["seqset_checktx_total"].inc(2, code="TxDecodeError")
    registry["seqset_validator_missed_blocks"].replace({("1",): 0, ("2",): 7})
    registry.histogram("seqset_commit_seconds").observe(0.003)
    text = registry.render()
    assert_valid_exposition(text)
    assert "# TYPE seqset_height gauge\nseqset_height 42\n" in text
    assert 'seqset_checktx_total{code="TxDecodeError"} 2\n' in text
    assert 'seqset_validator_missed_blocks{sequencer_id="2"} 7\n' in text
    for spec in METRICS:
        if spec.component == APP:
            assert f"# TYPE {spec.name} {spec.kind}\n" in text


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    histogram = Registry(APP).histogram("seqset_finalize_block_seconds")
    for value in (0.0004, 0.003, 0.003, 7.0):
        histogram.observe(value)
    samples = {(name, labels): value for name, labels, value in histogram.samples()}
    name = "seqset_finalize_block_seconds"
    assert samples[(name + "_bucket", (("le", "0.0005"),))] == 1
    assert samples[(name + "_bucket", (("le", "0.005"),))] == 3
    assert samples[(name + "_bucket", (("le", "5"),))] == 3
    assert samples[(name + "_bucket", (("le", "+Inf"),))] == 4
    assert samples[(name + "_count", ())] == 4
    assert samples[(name + "_sum", ())] == pytest.approx(7.0064)


def test_replace_drops_label_sets_that_are_gone() -> None:
    metric = Registry(APP)["seqset_validator_power"]
    metric.replace({("1",): 10, ("2",): 10})
    metric.replace({("1",): 10})
    assert [labels for _, labels, _ in metric.samples()] == [(("sequencer_id", "1"),)]


def test_invalid_names_labels_and_counter_decrements_are_refused() -> None:
    registry = Registry(APP)
    with pytest.raises(KeyError, match="not a app metric"):
        registry["seqset_sidecar_up"]  # another component's row
    with pytest.raises(ValueError, match="takes labels"):
        registry["seqset_checktx_total"].inc()
    with pytest.raises(ValueError, match="cannot go down"):
        registry["seqset_txs_ok_total"].inc(-1)
    with pytest.raises(ValueError, match="no metrics"):
        Registry("nobody")


def test_label_values_are_escaped_and_values_formatted() -> None:
    assert format_labels([("code", 'a"b\\c\nd')]) == '{code="a\\"b\\\\c\\nd"}'
    assert [format_value(v) for v in (3.0, 0.25, float("inf"))] == ["3", "0.25", "+Inf"]


def test_function_gauges_are_read_at_render() -> None:
    registry = Registry(SIDECAR)
    head = [5]
    registry["seqset_sidecar_l1_head"].set_function(lambda: head[0])
    head[0] = 9
    assert "seqset_sidecar_l1_head 9\n" in registry.render()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9100", "127.0.0.1:9100"])
def test_metrics_address_forms(address: str) -> None:
    assert parse_metrics_address(address) == ("127.0.0.1", 9100)


def test_invalid_metrics_address_is_refused() -> None:
    with pytest.raises(ValueError, match="tcp://host:port"):
        parse_metrics_address("unix:///tmp/metrics.sock")


def test_server_serves_metrics_and_404_elsewhere() -> None:
    registry = Registry(APP)
    registry["seqset_height"].set(3)
    assert start_metrics_server("", registry) is None
    server = start_metrics_server("tcp://127.0.0.1:0", registry)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "seqset_height 3\n" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(url + "/other", timeout=5)
    finally:
        server.stop()


def test_a_busy_metrics_address_is_named_in_the_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match=re.escape(f"cannot serve metrics on {address}")):
            start_metrics_server(address, Registry(APP))
