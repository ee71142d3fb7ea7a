"""Each ABCI method's answer to bad input and to a bug (STYLE.md §4): never a crash."""

import pytest

from abci_app import pb
from abci_app.chain.params import Params
from abci_app.errors import TxDecodeError, TxTooLargeError, WrongChainIdError
from abci_app.handlers.app import HaltError, SeqsetApp
from abci_app.handlers.proposals import ProposalHandler
from abci_app.store.state_store import StateStore
from tests.unit.chain.helpers import CHAIN_ID, ETH, make_app_state


class Boom(ProposalHandler):
    """A proposal handler whose every method has a bug."""

    def prepare(self, *args: object) -> list[bytes]:
        raise RuntimeError("bug")

    def process(self, *args: object) -> int:
        raise RuntimeError("bug")

    def extend(self, *args: object) -> bytes:
        raise RuntimeError("bug")

    def verify_extension(self, *args: object) -> int:
        raise RuntimeError("bug")


def make_app(proposals: ProposalHandler | None = None) -> tuple[SeqsetApp, list[str]]:
    halts: list[str] = []
    app = SeqsetApp(StateStore(None), proposals or ProposalHandler(), None,
                    halts.append)
    return app, halts


def commit_first_block(app: SeqsetApp) -> None:
    """InitChain and one committed block, so CheckTx really decodes what it gets."""
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_app_state([10 * ETH]))))
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))


@pytest.mark.parametrize(("tx", "code"), [
    (b"\xff\x00garbage", TxDecodeError.code),  # field number 0: not protobuf
    (b"\x0a\x05ab", TxDecodeError.code),  # a length that runs past the end
    (b"", WrongChainIdError.code),  # an empty SignedTx decodes; its body has no chain id
    (b"\x00" * (Params().max_tx_bytes + 1), TxTooLargeError.code),
])
def test_garbage_tx_gets_a_code_and_a_log(tx: bytes, code: int) -> None:
    app, halts = make_app()
    commit_first_block(app)
    assert app.store.last_height == 1 and halts == []
    response = app.handle(pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=tx)))
    assert (response.check_tx.code, response.check_tx.codespace) == (code, "seqset")
    assert response.check_tx.log.startswith("tx")


def test_bugs_in_proposal_methods_answer_safely_never_unknown() -> None:
    app, halts = make_app(Boom())
    prepared = app.handle(pb.abci.Request(prepare_proposal=pb.abci.RequestPrepareProposal()))
    assert prepared.HasField("prepare_proposal")
    processed = app.handle(pb.abci.Request(process_proposal=pb.abci.RequestProcessProposal()))
    assert processed.process_proposal.status == pb.abci.ResponseProcessProposal.REJECT
    extended = app.handle(pb.abci.Request(extend_vote=pb.abci.RequestExtendVote()))
    assert extended.HasField("extend_vote") and extended.extend_vote.vote_extension == b""
    verified = app.handle(pb.abci.Request(
        verify_vote_extension=pb.abci.RequestVerifyVoteExtension(vote_extension=b"x")))
    assert verified.verify_vote_extension.status == pb.abci.ResponseVerifyVoteExtension.REJECT
    assert halts == []


def test_a_bug_in_finalize_block_halts_instead_of_committing() -> None:
    app, halts = make_app()
    # No InitChain: the chain has no state, so FinalizeBlock cannot explain anything.
    with pytest.raises(HaltError):
        app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    assert halts and "finalize_block" in halts[0]


def test_commit_without_a_finalized_block_halts() -> None:
    app, halts = make_app()
    with pytest.raises(HaltError):
        app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    assert halts


def test_an_empty_request_gets_an_exception_response() -> None:
    app, _ = make_app()
    assert app.handle(pb.abci.Request()).HasField("exception")


def test_an_unknown_query_path_gets_a_code() -> None:
    app, _ = make_app()
    response = app.handle(pb.abci.Request(query=pb.abci.RequestQuery(path="/no/such/path")))
    assert response.query.code != 0 and response.query.log
