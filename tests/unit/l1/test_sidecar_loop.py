"""The watcher loop: failures are retried with capped backoff, logged once per kind, never fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from abci_app.l1.sidecar import (
    LoopState,
    SidecarConfig,
    compute_backoff_s,
    parse_sidecar_config,
    run_watcher,
)
from abci_app.l1.source import L1BadResponseError, L1UnavailableError, L1WrongChainError
from abci_app.node.config import ConfigError
from tests.unit.l1.fake_l1 import FakeL1
from tests.unit.l1.helpers import get_served_nonces, make_watcher

FAST = SidecarConfig(contract_address="0x" + "11" * 20, poll_interval_s=0.001,
                     max_backoff_s=0.005)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


def test_backoff_doubles_from_the_poll_interval_and_is_capped() -> None:
    assert [compute_backoff_s(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert compute_backoff_s(10_000, 0.5, 60.0) == 60.0


def test_loop_survives_every_failure_kind_and_then_observes(
        caplog: pytest.LogCaptureFixture) -> None:
    l1 = FakeL1()
    l1.emit("Locked")
    l1.mine(3)
    l1.fail_next = [L1UnavailableError("connection refused"), L1BadResponseError("not JSON"),
                    L1BadResponseError("not JSON"), L1BadResponseError("not JSON"),
                    L1WrongChainError("chain 1"), RuntimeError("a bug")]
    watcher, view = make_watcher(l1)
    state, stop = LoopState(), threading.Event()
    caplog.set_level(logging.INFO, logger="seqset.sidecar")
    thread = threading.Thread(target=run_watcher, args=(watcher, state, FAST, stop))
    thread.start()
    try:
        wait_for(lambda: get_served_nonces(view) == [1], "nonce 1 to be observed")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    failures = [r.getMessage() for r in caplog.records if "L1 poll failed" in r.getMessage()]
    assert [m.split("]")[0].split("[")[1] for m in failures] == [
        "unreachable", "bad_response", "wrong_chain", "RuntimeError"]
    assert any("recovered after 6 failures" in r.getMessage() for r in caplog.records)
    assert state.failures == 0 and state.last_error == ""


def test_loop_stops_on_a_halt_and_records_why() -> None:
    l1 = FakeL1()
    l1.emit("Locked")
    l1.mine(3)
    watcher, view = make_watcher(l1)
    watcher.poll_once()
    l1.reorg(3)
    l1.mine(8)
    state = LoopState()
    run_watcher(watcher, state, FAST, threading.Event())  # returns by itself
    assert state.last_error.startswith("halted:")
    assert get_served_nonces(view) == [1]


def test_failures_record_the_last_error_for_status() -> None:
    state = LoopState()
    state.record_failure("unreachable", "refused", 1.0, traceback=False)
    state.record_failure("unreachable", "refused", 2.0, traceback=False)
    assert (state.failures, state.last_error) == (2, "unreachable: refused")


def test_config_parses_a_toml_table_with_int_for_float() -> None:
    config = parse_sidecar_config({
        "contract_address": "0x" + "ab" * 20, "confirmations": 2, "poll_interval_s": 1,
        "finality": "finalized", "listen_address": "127.0.0.1:7000"})
    assert config.confirmations == 2 and config.poll_interval_s == 1.0
    assert config.finality == "finalized"


@pytest.mark.parametrize("section", [
    {"contract_address": "0x1234"},
    {"contract_address": "0x" + "ab" * 20, "finality": "safe"},
    {"contract_address": "0x" + "ab" * 20, "confirmations": "2"},
    {"contract_address": "0x" + "ab" * 20, "start_block": 0},
    {"contract_address": "0x" + "ab" * 20, "surprise": 1},
    {"contract_address": "0x" + "ab" * 20, "l1_rpc_url": "ws://x"},
    {"contract_address": "0x" + "ab" * 20, "poll_interval_s": 0},
])  # fmt: skip
def test_invalid_config_is_refused(section: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_sidecar_config(section)
