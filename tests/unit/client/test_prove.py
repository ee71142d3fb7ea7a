"""`--prove` against a lying node: answers from a fake node over a real state store."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from abci_app import pb
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.state import put_chain_state
from abci_app.client import prove
from abci_app.client.prove import ProofError, prove_query
from abci_app.client.rpc import NodeRpc
from abci_app.handlers.queries import answer_query
from abci_app.store.state_store import StateStore


class StoreNode(NodeRpc):
    """A node serving `store`, which claims each answer is at `claimed_height`."""

    def __init__(self, store: StateStore, claimed_height: int) -> None:
        super().__init__("http://fake")
        self.store = store
        self.claimed_height = claimed_height

    def abci_query(self, path: str, data: bytes = b"", height: int = 0,
                   prove: bool = False) -> dict[str, Any]:
        request = pb.abci.RequestQuery(path=path, data=data, prove=prove)
        response = MessageToDict(answer_query(self.store, request))
        response["height"] = str(self.claimed_height)
        return response


@pytest.fixture
def store() -> StateStore:
    store = StateStore(None)
    overlay = store.overlay()
    put_chain_state(overlay, state.ChainState(last_l1_nonce=7))
    store.commit(overlay, 9)
    return store


@pytest.fixture
def headers(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Header H+1 commits the store's app hash (the light client is tested in test_light)."""
    monkeypatch.setattr(prove, "get_next_header_app_hash",
                        lambda rpc, height, trust: store.last_app_hash)


@pytest.mark.usefixtures("headers")
def test_answer_at_the_latest_height_is_proven(store: StateStore) -> None:
    answer, height = prove_query(StoreNode(store, 9), "l1/last_nonce")
    assert isinstance(answer, query_pb.QueryL1LastNonceResponse)
    assert (answer.nonce, height) == (7, 9)


@pytest.mark.usefixtures("headers")
def test_invalid_answer_from_another_height_than_asked(store: StateStore) -> None:
    # Asked at 10, the node proves a true but older state (height 9)
    with pytest.raises(ProofError, match="asked at height 10, the node answered at 9"):
        prove_query(StoreNode(store, 9), "l1/last_nonce", height=10)
