"""The agent's turn (review finding 5): a height counts as ours only once its epoch is current."""

from __future__ import annotations

from google.protobuf.message import Message

from abci_app.chain.messages import query as query_pb
from abci_app.l2.chain_reader import CometChainReader


class StubReader(CometChainReader):
    def __init__(self, current_epoch: int) -> None:
        super().__init__("http://127.0.0.1:1")
        self.current_epoch = current_epoch

    def query(self, path: str) -> Message:
        if path == "/l2/head":
            return query_pb.QueryL2HeadResponse(height=9, epoch=self.current_epoch)
        height = int(path.rsplit("/", 1)[1])
        return query_pb.QuerySequencerAtResponse(l2_height=height, epoch=(height - 1) // 10,
                                                 sequencer_id=4)


def test_a_height_of_a_future_epoch_is_nobodys_turn_yet() -> None:
    assert StubReader(current_epoch=0).get_producer_at(11) is None
    assert StubReader(current_epoch=1).get_producer_at(11) == 4
    assert StubReader(current_epoch=0).get_producer_at(10) == 4
