"""FinalizeBlock's commit votes become downtime counts: only an ABSENT vote is a miss.

CometBFT's commit carries the nil precommits of online validators; like the
Cosmos SDK (x/slashing BeginBlocker), only BLOCK_ID_FLAG_ABSENT counts as missed.
"""

from abci_app import chain, pb
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.state import get_record
from abci_app.devnet.relay_testing import (
    make_event,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
)
from abci_app.handlers.blocks import build_block_input
from abci_app.relay.types import Attested
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import CHAIN_ID, ETH, GENESIS_TIME_NS, make_chain

FLAGS = {
    1: pb.validator.BLOCK_ID_FLAG_COMMIT,
    2: pb.validator.BLOCK_ID_FLAG_NIL,
    3: pb.validator.BLOCK_ID_FLAG_ABSENT,
}


def finalize_with_flags(kv: MemoryKV, height: int) -> None:
    """One FinalizeBlock whose last commit has each sequencer vote with its FLAGS entry."""
    votes = [
        pb.abci.VoteInfo(validator=pb.abci.Validator(address=e.address, power=e.power),
                         block_id_flag=FLAGS[e.sequencer_id])
        for e in chain.get_validator_set(kv, height - 1)
    ]
    request = pb.abci.RequestFinalizeBlock(
        height=height, decided_last_commit=pb.abci.CommitInfo(round=0, votes=votes))
    request.time.FromNanoseconds(GENESIS_TIME_NS + height * 10**9)
    chain.finalize_block(kv, build_block_input(request, CHAIN_ID, b"", Attested(), []))


def get_missed_blocks(kv: MemoryKV, sequencer_id: int) -> int:
    info = get_record(kv, keys.signing_info_key(sequencer_id), state.SigningInfo)
    return int(info.missed_blocks) if info is not None else 0


def test_nil_precommit_is_not_missed_and_absent_is() -> None:
    kv = make_chain([100 * ETH, 100 * ETH, 100 * ETH])
    finalize_with_flags(kv, 1)  # the first block's last commit is empty
    for height in (2, 3, 4):
        finalize_with_flags(kv, height)
    assert [get_missed_blocks(kv, i) for i in (1, 2, 3)] == [0, 0, 3]


def test_build_block_input_marks_only_absent_votes_as_not_present() -> None:
    votes = [pb.abci.VoteInfo(validator=pb.abci.Validator(address=bytes([i]) * 20, power=1),
                              block_id_flag=flag) for i, flag in FLAGS.items()]
    request = pb.abci.RequestFinalizeBlock(
        height=2, decided_last_commit=pb.abci.CommitInfo(votes=votes))
    block = build_block_input(request, CHAIN_ID, b"", Attested(), [])
    assert [v.present for v in block.decided_last_commit] == [True, True, False]


def test_build_block_input_carries_every_attested_part() -> None:
    headers = make_l2_headers(1, 2, make_l2_genesis_hash())
    attested = Attested(events=(make_event(1),), l2_headers=tuple(headers),
                        seed_randomness=make_randomness(9), l1_confirmed_height=77)
    block = build_block_input(pb.abci.RequestFinalizeBlock(height=2), CHAIN_ID, b"", attested,
                              [b"user"])
    assert block.l1_events == [make_event(1)]
    assert block.l2_headers == headers
    assert block.seed_randomness == make_randomness(9)
    assert block.l1_confirmed_height == 77
    assert block.txs == [b"user"]
    empty = build_block_input(pb.abci.RequestFinalizeBlock(height=2), CHAIN_ID, b"", Attested(),
                              [])
    assert (empty.l2_headers, empty.seed_randomness, empty.l1_confirmed_height) == ([], None, 0)
