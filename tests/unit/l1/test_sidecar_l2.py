"""The sidecar's L2 side of Observed: L2 headers from the follower, confirmed L1 randomness."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from abci_app.l1.service import SERVICE_NAME, sidecar_pb, start_sidecar_server
from abci_app.l1.sidecar import (
    LoopState,
    SidecarConfig,
    fetch_randomness,
    parse_sidecar_config,
    run_l2_follower,
)
from abci_app.l1.source import L1UnavailableError
from abci_app.l1.view import ObservedLog, RandomnessCache
from abci_app.l2.follower import L2Follower
from abci_app.node.config import ConfigError
from tests.unit.l2.fake_l2 import FakeL2

CONTRACT = "0x" + "5f" * 20


class FakeMixSource:
    def __init__(self) -> None:
        self.asked: list[int] = []
        self.fail = False

    def get_mix_hash(self, number: int) -> bytes | None:
        self.asked.append(number)
        if self.fail:
            raise L1UnavailableError("refused")
        return number.to_bytes(32, "big")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeL2, L2Follower, RandomnessCache, Any]]:
    view = ObservedLog()
    view.load(40, [])
    l2 = FakeL2()
    l2.mine(12)
    follower = L2Follower(l2)
    while not follower.poll_once():
        pass
    cache = RandomnessCache()
    server, target = start_sidecar_server(f"unix:{tmp_path / 's.sock'}", view,
                                          sidecar_pb.StatusResponse, follower, cache)
    channel = grpc.insecure_channel(target)
    call = channel.unary_unary(
        f"/{SERVICE_NAME}/Observed",
        request_serializer=sidecar_pb.ObservedRequest.SerializeToString,
        response_deserializer=sidecar_pb.ObservedResponse.FromString)
    yield l2, follower, cache, call
    channel.close()
    server.stop(grace=None)


def test_observed_returns_l2_headers_after_the_asked_height(served: Any) -> None:
    l2, _, _, call = served
    response = call(sidecar_pb.ObservedRequest(after_l2_height=5, max_l2_headers=4), timeout=5)
    assert [h.height for h in response.l2_headers] == [6, 7, 8, 9]
    assert bytes(response.l2_headers[0].parent_hash) == l2.blocks[5].hash
    assert response.confirmed_l1_height == 40


def test_observed_returns_no_l2_headers_when_none_are_asked(served: Any) -> None:
    _, _, _, call = served
    response = call(sidecar_pb.ObservedRequest(after_l2_height=0), timeout=5)
    assert list(response.l2_headers) == []


def test_randomness_is_served_only_once_confirmed_and_fetched(served: Any) -> None:
    _, _, cache, call = served
    # Above the confirmed height (40): never, and never asked of L1
    response = call(sidecar_pb.ObservedRequest(randomness_l1_height=41), timeout=5)
    assert not response.HasField("randomness")
    assert cache.get_wanted() == []
    # Confirmed but not fetched yet: absent now, fetched in the background
    response = call(sidecar_pb.ObservedRequest(randomness_l1_height=30), timeout=5)
    assert not response.HasField("randomness")
    source = FakeMixSource()
    fetch_randomness(source, cache, confirmed=40)
    assert source.asked == [30]
    response = call(sidecar_pb.ObservedRequest(randomness_l1_height=30), timeout=5)
    assert (response.randomness.l1_height, bytes(response.randomness.mix_hash)) == (
        30, (30).to_bytes(32, "big"))


def test_observed_without_an_l2_sends_no_headers(tmp_path: Path) -> None:
    view = ObservedLog()
    server, target = start_sidecar_server(f"unix:{tmp_path / 'n.sock'}", view,
                                          sidecar_pb.StatusResponse)
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            f"/{SERVICE_NAME}/Observed",
            request_serializer=sidecar_pb.ObservedRequest.SerializeToString,
            response_deserializer=sidecar_pb.ObservedResponse.FromString)
        response = call(sidecar_pb.ObservedRequest(after_l2_height=0, max_l2_headers=10,
                                                   randomness_l1_height=1), timeout=5)
    server.stop(grace=None)
    assert list(response.l2_headers) == [] and not response.HasField("randomness")


def test_a_failed_randomness_fetch_stays_wanted() -> None:
    cache = RandomnessCache()
    assert cache.get(7, confirmed_height=10) is None
    source = FakeMixSource()
    source.fail = True
    with pytest.raises(L1UnavailableError):
        fetch_randomness(source, cache, 10)
    assert cache.get_wanted() == [7]


def test_observed_makes_no_l2_or_l1_call(served: Any) -> None:
    l2, _, cache, call = served
    calls = l2.calls
    for _ in range(20):
        call(sidecar_pb.ObservedRequest(after_l2_height=0, max_l2_headers=64,
                                        randomness_l1_height=3), timeout=5)
    assert l2.calls == calls
    assert cache.get_wanted() == [3]  # left for the background loop


def test_the_l2_loop_retries_failures_and_recovers() -> None:
    l2 = FakeL2()
    l2.mine(5)
    l2.fail_next = [L1UnavailableError("refused"), ValueError("a bug")]
    follower = L2Follower(l2)
    state, stop = LoopState("L2"), threading.Event()
    config = SidecarConfig(contract_address=CONTRACT, l2_poll_interval_s=0.01,
                           max_backoff_s=0.05)
    thread = threading.Thread(target=run_l2_follower, args=(follower, state, config, stop))
    thread.start()
    deadline = time.monotonic() + 5
    while follower.get_kept_range() != (1, 5) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert follower.get_kept_range() == (1, 5)
    assert state.failures == 0 and not thread.is_alive()


def test_config_accepts_an_l2_and_refuses_a_bad_url() -> None:
    config = parse_sidecar_config({"contract_address": CONTRACT,
                                   "l2_rpc_url": "http://127.0.0.1:9545", "l2_chain_id": 901})
    assert (config.l2_rpc_url, config.l2_chain_id) == ("http://127.0.0.1:9545", 901)
    assert parse_sidecar_config({"contract_address": CONTRACT}).l2_rpc_url == ""
    with pytest.raises(ConfigError, match="l2_rpc_url"):
        parse_sidecar_config({"contract_address": CONTRACT, "l2_rpc_url": "ws://x"})
