"""Issue 15: the mempool connection never waits behind FinalizeBlock or a query.

The real app is served over the ABCI socket as `seqset start` serves it. A
FinalizeBlock on the consensus connection is held inside the handler (at its
finalize-done point); meanwhile CheckTx on the mempool connection must answer,
and Commit must still see the block once FinalizeBlock is let go.
"""

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import pytest

from abci_app import pb
from abci_app.devnet.ports import free_port
from abci_app.errors import NotStartedError
from abci_app.handlers import app as app_module
from abci_app.node.config import AppConfig
from tests.integration.abci_client import AbciClient
from tests.unit.handlers.test_extend_vote_nonblocking import (
    ServedApp,
    commit_first_block,
    timed_call,
)

HOLD_S = 5.0
ANSWER_BOUND_S = 0.5  # generous on a loaded machine: unblocked, an answer takes ~1 ms


class HeldFinalize:
    """Stands in for failpoint(): holds FinalizeBlock at `height` until released."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, name: str, height: int) -> None:
        if name == "finalize-done" and height == self.height:
            self.entered.set()
            self.release.wait(HOLD_S)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldFinalize]:
    hold = HeldFinalize(height=2)
    monkeypatch.setattr(app_module, "failpoint", hold)
    yield hold
    hold.release.set()


@pytest.fixture
def app_port(tmp_path: Path, held: HeldFinalize) -> Iterator[int]:
    port = free_port()
    served = ServedApp(tmp_path / "home", AppConfig(abci_address=f"tcp://127.0.0.1:{port}"))
    try:
        yield port
    finally:
        held.release.set()
        served.close()


def test_checktx_answers_while_finalize_block_runs_on_the_consensus_connection(
        held: HeldFinalize, app_port: int) -> None:
    with (AbciClient("127.0.0.1", app_port) as consensus,
          AbciClient("127.0.0.1", app_port) as mempool,
          futures.ThreadPoolExecutor(max_workers=1) as pool):
        commit_first_block(consensus)
        finalize = pool.submit(timed_call, consensus, pb.abci.Request(
            finalize_block=pb.abci.RequestFinalizeBlock(height=2)))
        assert held.entered.wait(5), "FinalizeBlock never reached its finalize-done point"

        checks = [timed_call(mempool, pb.abci.Request(check_tx=pb.abci.RequestCheckTx(
            tx=b"\xff\x00garbage", type=kind))) for kind in (pb.abci.NEW, pb.abci.RECHECK)]
        still_held = not finalize.done()
        held.release.set()
        finalized, _ = finalize.result(10)
        committed = consensus.call(pb.abci.Request(commit=pb.abci.RequestCommit()))

    assert still_held, "FinalizeBlock finished before CheckTx was measured"
    for response, seconds in checks:
        assert response.WhichOneof("value") == "check_tx" and response.check_tx.code != 0
        assert seconds < ANSWER_BOUND_S, f"CheckTx waited {seconds * 1000:.0f} ms"
    assert finalized.WhichOneof("value") == "finalize_block"
    assert committed.WhichOneof("value") == "commit"


def test_checktx_sees_the_committed_state_after_commit(
        held: HeldFinalize, app_port: int) -> None:
    held.height = -1  # nothing held
    with (AbciClient("127.0.0.1", app_port) as consensus,
          AbciClient("127.0.0.1", app_port) as mempool):
        before = mempool.call(pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=b"\x01")))
        commit_first_block(consensus)
        started = time.monotonic()
        after = mempool.call(pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=b"\x01")))
    assert before.check_tx.code == NotStartedError.code, "NotStarted before the first Commit"
    assert after.check_tx.code not in (0, NotStartedError.code), \
        "the first Commit reached the mempool's view"
    assert time.monotonic() - started < ANSWER_BOUND_S
