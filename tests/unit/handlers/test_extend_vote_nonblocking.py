"""Issue 12 acceptance: a sidecar that sleeps past ExtendVote's budget stalls nothing.

The real app, built and served as `seqset start` does (runner.build_app and
AppServers over the ABCI socket), talks to a real gRPC sidecar whose Observed
sleeps. While it sleeps, ExtendVote on the consensus connection and CheckTx
and Query on their own connections must each answer within a few milliseconds.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from abci_app import chain, pb
from abci_app.devnet.ports import free_port
from abci_app.l1.service import sidecar_pb
from abci_app.node.config import AppConfig
from abci_app.node.home import sequencer_entry
from abci_app.node.runner import AppServers, build_app
from tests.integration.abci_client import AbciClient
from tests.unit.l1.test_service_client import start_fake_sidecar

SIDECAR_SLEEP_S = 2.0
ANSWER_BOUND_S = 0.1  # generous: unblocked, each answer takes about a millisecond
CHAIN_ID = "nonblocking-test"


@dataclass
class SleepySidecar:
    """Observed records when it is entered, then sleeps until released or SIDECAR_SLEEP_S."""

    entered: threading.Event
    release: threading.Event
    entered_at: list[float]

    def observed(self, request: bytes, context: Any) -> bytes:
        self.entered_at.append(time.monotonic())
        self.entered.set()
        self.release.wait(SIDECAR_SLEEP_S)
        return bytes(sidecar_pb.ObservedResponse().SerializeToString())


class ServedApp:
    """The app's servers on their own event loop thread, as in `seqset start`."""

    def __init__(self, home: Path, config: AppConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="abci-loop")
        self.thread.start()
        self.servers = AppServers(build_app(home, config), config)
        self._run(self.servers.start())

    def _run(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def close(self) -> None:
        try:
            self._run(self.servers.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[tuple[SleepySidecar, str]]:
    fake = SleepySidecar(threading.Event(), threading.Event(), [])
    address = f"unix:{tmp_path / 'sidecar.sock'}"
    server = start_fake_sidecar(address, fake.observed)
    yield fake, address
    fake.release.set()
    server.stop(grace=None)


@pytest.fixture
def app_port(tmp_path: Path, sidecar: tuple[SleepySidecar, str]) -> Iterator[int]:
    port = free_port()
    config = AppConfig(abci_address=f"tcp://127.0.0.1:{port}", sidecar_address=sidecar[1])
    served = ServedApp(tmp_path / "home", config)
    try:
        yield port
    finally:
        sidecar[0].release.set()  # so that stopping does not wait out a sleeping call
        served.close()


def commit_first_block(client: AbciClient) -> None:
    key = nacl.signing.SigningKey(bytes(32)).verify_key.encode()
    app_state = chain.make_genesis_app_state(
        [sequencer_entry(1, "0x" + "11" * 20, key, 1000 * 10**18)])
    client.call(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=json.dumps(app_state).encode())))
    client.call(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    client.call(pb.abci.Request(commit=pb.abci.RequestCommit()))


def timed_call(client: AbciClient, request: pb.abci.Request) -> tuple[pb.abci.Response, float]:
    started = time.monotonic()
    response = client.call(request)
    return response, time.monotonic() - started


def test_checktx_and_query_answer_while_the_sidecar_sleeps_through_extend_vote(
        sidecar: tuple[SleepySidecar, str], app_port: int) -> None:
    fake, _ = sidecar
    with (AbciClient("127.0.0.1", app_port) as consensus,
          AbciClient("127.0.0.1", app_port) as mempool,
          AbciClient("127.0.0.1", app_port) as query,
          futures.ThreadPoolExecutor(max_workers=1) as pool):
        commit_first_block(consensus)
        extend = pool.submit(timed_call, consensus, pb.abci.Request(
            extend_vote=pb.abci.RequestExtendVote(height=2)))
        assert fake.entered.wait(5), "the sidecar was never asked for events"

        check, check_s = timed_call(mempool, pb.abci.Request(
            check_tx=pb.abci.RequestCheckTx(tx=b"\xff\x00garbage")))
        answer, query_s = timed_call(query, pb.abci.Request(
            query=pb.abci.RequestQuery(path="/params")))
        extension, extend_s = extend.result(10)
        finished = time.monotonic()

    assert check.WhichOneof("value") == "check_tx" and check.check_tx.code != 0
    assert answer.WhichOneof("value") == "query" and answer.query.code == 0
    assert extension.WhichOneof("value") == "extend_vote"
    assert extension.extend_vote.vote_extension == b"", "the sidecar has answered nothing yet"
    assert finished < fake.entered_at[0] + SIDECAR_SLEEP_S, "the sidecar woke before we measured"
    timings = f"CheckTx {check_s * 1000:.0f} ms, Query {query_s * 1000:.0f} ms, " \
              f"ExtendVote {extend_s * 1000:.0f} ms"
    assert check_s < ANSWER_BOUND_S, f"CheckTx waited on the sidecar ({timings})"
    assert query_s < ANSWER_BOUND_S, f"Query waited on the sidecar ({timings})"
    assert extend_s < ANSWER_BOUND_S, f"ExtendVote waited on the sidecar ({timings})"
    print(timings)
