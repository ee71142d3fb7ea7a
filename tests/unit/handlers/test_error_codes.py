"""The codes the app answers with come from abci_app.errors, in the seqset codespace."""

import pytest

from abci_app import pb
from abci_app.errors import (
    CODESPACE,
    ERROR_CODES,
    InternalError,
    NotStartedError,
    QueryBadHeightError,
    QueryBadRequestError,
    QueryNotFoundError,
)
from abci_app.handlers import app as app_module
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import ProposalHandler
from abci_app.store.state_store import StateStore
from tests.unit.chain.helpers import CHAIN_ID, ETH, make_app_state


def started_app() -> SeqsetApp:
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, lambda reason: None)
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_app_state([10 * ETH]))))
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    return app


def ask(app: SeqsetApp, path: str, data: bytes = b"", height: int = 0) -> pb.abci.ResponseQuery:
    return app.handle(pb.abci.Request(query=pb.abci.RequestQuery(
        path=path, data=data, height=height))).query


def test_check_tx_before_the_first_block_is_not_started() -> None:
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, lambda reason: None)
    answer = app.handle(pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=b"x"))).check_tx
    assert (answer.code, answer.codespace) == (NotStartedError.code, CODESPACE)
    assert "no block" in answer.log


@pytest.mark.parametrize("path", ["/params", "/l2/head", "/sequencers"])
def test_chain_query_before_the_first_block_is_not_started(path: str) -> None:
    # Agents and dashboards ask while CometBFT is still handshaking: no traceback, a clear code.
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, lambda reason: None)
    answer = ask(app, path)
    assert (answer.code, answer.codespace) == (NotStartedError.code, CODESPACE)
    assert "no block" in answer.log


@pytest.mark.parametrize(("path", "data", "height", "code"), [
    ("/params", b"", 99, QueryBadHeightError.code),
    ("/key", b"", 0, QueryBadRequestError.code),
    ("/app_hash/x", b"", 0, QueryBadRequestError.code),
    ("/app_hash/99999999999999999999999", b"", 0, QueryBadRequestError.code),
    ("/app_hash/99", b"", 0, QueryNotFoundError.code),
    ("/sequencer/9", b"", 0, QueryNotFoundError.code),
    ("/no/such/path", b"", 0, QueryBadRequestError.code),
])
def test_query_errors_answer_their_table_code(path: str, data: bytes, height: int,
                                              code: int) -> None:
    answer = ask(started_app(), path, data, height)
    assert (answer.code, answer.codespace) == (code, CODESPACE)
    assert answer.log and answer.value == b""


def test_a_query_that_works_has_no_codespace() -> None:
    answer = ask(started_app(), "/app_hash/1")
    assert (answer.code, answer.codespace) == (0, "")
    assert len(answer.value) == 32


@pytest.mark.parametrize("method", ["query", "check_tx"])
def test_a_bug_answers_the_internal_error_code(monkeypatch: pytest.MonkeyPatch,
                                               method: str) -> None:
    app = started_app()

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(app_module.chain, "query", broken)
    monkeypatch.setattr(app_module.chain, "check_tx", broken)
    request = (pb.abci.Request(query=pb.abci.RequestQuery(path="/params")) if method == "query"
               else pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=b"x")))
    answer = getattr(app.handle(request), method)
    assert (answer.code, answer.codespace) == (InternalError.code, CODESPACE)
    assert InternalError.code in ERROR_CODES and "bug" in answer.log
