"""The Sidecar gRPC service and SidecarClient: bounds, status, and [] on any failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from abci_app import pb
from abci_app.l1.client import SidecarClient
from abci_app.l1.decode import decode_log
from abci_app.l1.service import SERVICE_NAME, sidecar_pb, start_sidecar_server
from abci_app.l1.view import ObservedLog
from tests.unit.l1.fake_l1 import encode_log, make_hash, sample_values
from tests.unit.l1.test_sidecar_loop import wait_for

NAMES = ["Locked", "LockIncreased", "SignerChanged", "WithdrawalRequested", "UnlockInitiated"]


def make_events(count: int) -> list[pb.events.L1Event]:
    return [
        decode_log(encode_log(NAMES[i % len(NAMES)], i + 1, 1, sample_values(NAMES[i % 5]),
                              10 + i, make_hash(10 + i), 0))
        for i in range(count)
    ]


def make_status() -> Any:
    return sidecar_pb.StatusResponse(l1_head=77, last_error="unreachable: refused")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ObservedLog, str]]:
    view = ObservedLog()
    view.load(40, make_events(30))
    server, target = start_sidecar_server(f"unix:{tmp_path / 's.sock'}", view, make_status)
    yield view, target
    server.stop(grace=None)


def start_fake_sidecar(address: str, observed: Callable[[bytes, Any], bytes]) -> grpc.Server:
    """A server that answers Observed with whatever bytes `observed` returns."""
    handler = grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "Observed": grpc.unary_unary_rpc_method_handler(observed)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    server.start()
    return server


def test_observed_returns_contiguous_events_after_the_nonce(
        served: tuple[ObservedLog, str]) -> None:
    _, target = served
    client = SidecarClient(target)
    events = client.observed(after_nonce=4, max_events=3, max_bytes=0, timeout_s=5)
    assert [e.nonce for e in events] == [5, 6, 7]
    assert client.observed(30, 10, 0, 5) == []
    client.close()


def test_observed_is_bounded_by_serialized_bytes(served: tuple[ObservedLog, str]) -> None:
    view, target = served
    sizes = [e.ByteSize() for e in view.get_after(0, 0, 0).events]
    client = SidecarClient(target)
    events = client.observed(0, 100, sizes[0] + sizes[1] + sizes[2] - 1, 5)
    assert [e.nonce for e in events] == [1, 2]
    assert client.observed(0, 100, sizes[0] - 1, 5) == []
    client.close()


def test_observed_response_reports_the_tip(served: tuple[ObservedLog, str]) -> None:
    _, target = served
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            f"/{SERVICE_NAME}/Observed",
            request_serializer=sidecar_pb.ObservedRequest.SerializeToString,
            response_deserializer=sidecar_pb.ObservedResponse.FromString)
        response = call(sidecar_pb.ObservedRequest(after_nonce=28), timeout=5)
    assert [e.nonce for e in response.events] == [29, 30]
    assert (response.confirmed_l1_height, response.last_observed_nonce) == (40, 30)


def test_server_caps_a_request_without_bounds() -> None:
    view = ObservedLog()
    view.load(5000, make_events(1200))
    assert len(view.get_after(0, 0, 0).events) == 1000


def test_status_reports_what_the_watcher_knows(served: tuple[ObservedLog, str]) -> None:
    _, target = served
    status = SidecarClient(target).status(5)
    assert status is not None
    assert (status.l1_head, status.last_error) == (77, "unreachable: refused")


def test_client_returns_nothing_when_the_sidecar_is_down(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="seqset.sidecar.client")
    client = SidecarClient(f"unix:{tmp_path / 'absent.sock'}", log_interval_s=3600)
    for _ in range(5):
        assert client.observed(0, 10, 10_000, 0.3) == []
    warnings = [r for r in caplog.records if r.name == "seqset.sidecar.client"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert client.suppressed == 4


def test_client_returns_nothing_for_garbage_bytes(tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'g.sock'}"
    server = start_fake_sidecar(address, lambda request, context: b"\xff\xfe not protobuf")
    try:
        assert SidecarClient(address).observed(0, 10, 10_000, 2) == []
    finally:
        server.stop(grace=None)


def test_client_returns_nothing_for_a_non_contiguous_answer(tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'n.sock'}"
    events = make_events(6)
    answer = sidecar_pb.ObservedResponse(events=[events[0], events[2]]).SerializeToString()
    server = start_fake_sidecar(address, lambda request, context: answer)
    try:
        assert SidecarClient(address).observed(0, 10, 10_000, 2) == []
    finally:
        server.stop(grace=None)


def test_client_returns_nothing_for_too_many_events(tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'm.sock'}"
    answer = sidecar_pb.ObservedResponse(events=make_events(6)).SerializeToString()
    server = start_fake_sidecar(address, lambda request, context: answer)
    try:
        client = SidecarClient(address)
        assert client.observed(0, 5, 10_000, 2) == []
        assert [e.nonce for e in client.observed(0, 6, 10_000, 2)] == [1, 2, 3, 4, 5, 6]
    finally:
        server.stop(grace=None)


def test_client_gives_up_on_a_slow_sidecar_at_its_deadline(tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'slow.sock'}"
    release = threading.Event()

    def slow(request: bytes, context: Any) -> bytes:
        release.wait(10)
        return b""

    server = start_fake_sidecar(address, slow)
    try:
        assert SidecarClient(address).observed(0, 10, 10_000, 0.3) == []
    finally:
        release.set()
        server.stop(grace=None)


def test_client_reconnects_after_the_sidecar_restarts(tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'r.sock'}"
    view = ObservedLog()
    view.load(12, make_events(2))
    server, _ = start_sidecar_server(address, view, make_status)
    client = SidecarClient(address)
    assert len(client.observed(0, 10, 10_000, 2)) == 2
    server.stop(grace=None).wait()
    assert client.observed(0, 10, 10_000, 0.3) == []
    server, _ = start_sidecar_server(address, view, make_status)
    try:
        wait_for(lambda: len(client.observed(0, 10, 10_000, 0.3)) == 2,
                 "the client to reach the restarted sidecar")
    finally:
        server.stop(grace=None)


def test_tcp_listen_address_reports_the_bound_port() -> None:
    view = ObservedLog()
    view.load(3, make_events(1))
    server, target = start_sidecar_server("tcp://127.0.0.1:0", view, make_status)
    try:
        assert not target.endswith(":0")
        assert [e.nonce for e in SidecarClient(target).observed(0, 5, 10_000, 2)] == [1]
    finally:
        server.stop(grace=None)
