"""The relay's ABCI wiring with an L2 registered: ExtendVote carries L2 headers, the seed
randomness and the L1 height; PrepareProposal injects what > 2/3 attest; ProcessProposal
rejects what they do not; FinalizeBlock hands the chain every attested part."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app import chain, pb
from abci_app.devnet.relay_testing import (
    compute_commit_info,
    make_attested_tx,
    make_event,
    make_extended_commit,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
    make_validators,
)
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import (
    ACCEPT_PROPOSAL,
    REJECT_PROPOSAL,
    ProposalHandler,
    compute_view_after_block,
    get_relay_params,
    get_relay_view,
)
from abci_app.handlers.sidecar_feed import SidecarFeed, compute_feed_query
from abci_app.l1.client import Observation, ObservedQuery
from abci_app.relay.attested_tx import ATTESTED_TX_PREFIX, decode_attested_tx
from abci_app.relay.extension import decode_extension
from abci_app.relay.types import RelayView
from abci_app.store.kv import MemoryKV
from abci_app.store.state_store import StateStore

CHAIN_ID = "proposals-l2"
VALIDATORS = make_validators([10, 10, 10, 10], label="proposals-l2")
GENESIS = make_l2_genesis_hash()
HEADERS = make_l2_headers(1, 4, GENESIS)
HEIGHT = 2  # the proposal; the votes are for height 1, signed by the genesis set


def make_genesis(with_l2: bool = True) -> bytes:
    """The four VALIDATORS as genesis sequencers, with the L2 registered or not."""
    sequencers = [
        {"id": v.entry.sequencer_id, "owner": bytes([v.entry.sequencer_id]) * 20,
         "signer": bytes([0x40 + v.entry.sequencer_id]) * 20,
         "consensus_pubkey": v.entry.pub_key, "locked_wei": 10 * 10**18}
        for v in VALIDATORS
    ]
    params = {"l2_chain_id": 901, "l2_genesis_hash": "0x" + GENESIS.hex()} if with_l2 else {}
    return json.dumps(chain.make_genesis_app_state(sequencers, params=params)).encode()


def make_kv(with_l2: bool = True) -> MemoryKV:
    kv = MemoryKV()
    chain.init_chain(kv, make_genesis(with_l2), CHAIN_ID, 0, 1)
    return kv


KV = make_kv()
SEED_REQUEST = chain.get_seed_request(KV)
SEED = make_randomness(SEED_REQUEST)


class FakeClient:
    def __init__(self, observation: Observation) -> None:
        self.observation = observation
        self.queries: list[ObservedQuery] = []

    def observe(self, query: ObservedQuery, timeout_s: float) -> Observation:
        self.queries.append(query)
        return self.observation

    def close(self) -> None:
        pass


def make_handler(observation: Observation, kv: MemoryKV = KV) -> tuple[ProposalHandler, Any]:
    client = FakeClient(observation)
    feed = SidecarFeed(client)
    feed.note_committed(get_relay_view(kv), get_relay_params(kv))
    feed.refresh()
    return ProposalHandler(feed), client


HONEST = Observation(events=(make_event(1),), l2_headers=tuple(HEADERS), randomness=SEED,
                     confirmed_l1_height=100)


def extend(observation: Observation, kv: MemoryKV = KV, txs: list[bytes] | None = None) -> Any:
    handler, _ = make_handler(observation, kv)
    data = handler.extend(pb.abci.RequestExtendVote(height=HEIGHT, txs=txs or []), kv)
    decoded = decode_extension(data, get_relay_params(kv))
    assert decoded is not None
    return data, decoded


def test_seed_request_is_set_at_genesis() -> None:
    assert SEED_REQUEST > 0, "the chain asks for epoch 2's randomness at genesis"


def test_extend_carries_headers_randomness_and_l1_height() -> None:
    _, decoded = extend(HONEST)
    assert list(decoded.l2_headers) == HEADERS
    assert decoded.seed_randomness == SEED
    assert decoded.l1_confirmed_height == 100
    assert [e.nonce for e in decoded.events] == [1]


def test_extend_drops_randomness_of_another_height() -> None:
    _, decoded = extend(Observation(randomness=make_randomness(SEED_REQUEST + 1)))
    assert decoded.seed_randomness is None


def test_extend_after_a_block_with_headers_starts_after_them() -> None:
    block_tx = make_attested_tx(pb.abci.ExtendedCommitInfo(), [], HEADERS[:2], SEED)
    _, decoded = extend(HONEST, txs=[block_tx])
    assert list(decoded.l2_headers) == HEADERS[2:]
    assert decoded.seed_randomness is None  # the next request is unknown until executed
    view = compute_view_after_block(get_relay_view(KV), [block_tx])
    assert view.l2_head == (2, bytes(HEADERS[1].hash))


def test_without_l2_no_headers_are_asked_for_or_carried() -> None:
    kv = make_kv(with_l2=False)
    handler, client = make_handler(HONEST, kv)
    assert client.queries[-1].max_l2_headers == 0
    data = handler.extend(pb.abci.RequestExtendVote(height=HEIGHT), kv)
    decoded = decode_extension(data, get_relay_params(kv))
    assert decoded is not None and decoded.l2_headers == () and decoded.seed_randomness is None


def test_feed_asks_for_headers_after_the_attested_height_and_the_seed_request() -> None:
    params = get_relay_params(KV)
    query = compute_feed_query(get_relay_view(KV), params)
    assert query.after_l2_height == 0
    assert query.max_l2_headers == 2 * params.max_l2_headers_per_extension
    assert query.randomness_l1_height == SEED_REQUEST
    later = compute_feed_query(RelayView(last_applied_nonce=3, l2_head=(9, b"\x01" * 32)), params)
    assert (later.after_nonce, later.after_l2_height, later.randomness_l1_height) == (3, 9, 0)


# --- PrepareProposal, ProcessProposal, FinalizeBlock --------------------------------------

def make_votes(extensions: dict[int, bytes]) -> Any:
    return make_extended_commit(VALIDATORS, extensions, HEIGHT - 1, CHAIN_ID)


def prepare(commit: Any, kv: MemoryKV = KV) -> list[bytes]:
    request = pb.abci.RequestPrepareProposal(height=HEIGHT, local_last_commit=commit,
                                             max_tx_bytes=10**6, txs=[b"user"])
    return ProposalHandler().prepare(request, kv, CHAIN_ID)


def process(txs: list[bytes], commit: Any, kv: MemoryKV = KV) -> int:
    request = pb.abci.RequestProcessProposal(height=HEIGHT, txs=txs,
                                             proposed_last_commit=compute_commit_info(commit))
    return int(ProposalHandler().process(request, kv, CHAIN_ID))


HONEST_EXTENSION = extend(HONEST)[0]
HONEST_VOTES = make_votes({0: HONEST_EXTENSION, 1: HONEST_EXTENSION, 2: HONEST_EXTENSION})


def test_honest_round_trip_attests_every_part() -> None:
    txs = prepare(HONEST_VOTES)
    assert len(txs) == 2 and txs[1] == b"user"
    body = decode_attested_tx(txs[0])
    assert body is not None
    assert list(body.l2_headers) == HEADERS
    assert body.seed_randomness == SEED and body.l1_confirmed_height == 100
    assert process(txs, HONEST_VOTES) == ACCEPT_PROPOSAL
    request = pb.abci.RequestFinalizeBlock(height=HEIGHT, txs=txs,
                                           decided_last_commit=compute_commit_info(HONEST_VOTES))
    attested, user_txs, result = ProposalHandler().attested_events_for_block(request, KV,
                                                                             CHAIN_ID)
    assert result is not None and result.code == 0, result
    assert list(attested.l2_headers) == HEADERS and attested.seed_randomness == SEED
    assert attested.l1_confirmed_height == 100 and user_txs == [b"user"]


def test_only_the_l1_height_is_enough_to_inject() -> None:
    only_height = extend(Observation(confirmed_l1_height=42))[0]
    txs = prepare(make_votes({i: only_height for i in range(4)}))
    body = decode_attested_tx(txs[0])
    assert body is not None and body.l1_confirmed_height == 42
    # Not above the stored height (0 here): nothing at all, so no tx.
    assert prepare(make_votes({})) == [b"user"]


def test_without_l2_headers_are_not_attested() -> None:
    kv = make_kv(with_l2=False)
    txs = prepare(HONEST_VOTES, kv)
    body = decode_attested_tx(txs[0])
    assert body is not None and list(body.l2_headers) == [] and not body.HasField(
        "seed_randomness")
    forged = make_attested_tx(HONEST_VOTES, [], HEADERS)
    assert process([forged], HONEST_VOTES, kv) == REJECT_PROPOSAL


@pytest.mark.parametrize("forge", [
    lambda: make_attested_tx(HONEST_VOTES, [], make_l2_headers(1, 2, GENESIS, label="lie")),
    lambda: make_attested_tx(HONEST_VOTES, [], HEADERS + make_l2_headers(5, 1, HEADERS[-1].hash)),
    lambda: make_attested_tx(HONEST_VOTES, [], HEADERS[1:]),  # does not start at the head
    lambda: make_attested_tx(HONEST_VOTES, [], seed_randomness=make_randomness(SEED_REQUEST,
                                                                               label="lie")),
    lambda: make_attested_tx(HONEST_VOTES, [], l1_confirmed_height=101),
    lambda: make_attested_tx(make_votes({0: HONEST_EXTENSION, 1: HONEST_EXTENSION}), [],
                             HEADERS),  # only half the power
], ids=["lying-header", "header-beyond", "header-gap", "lying-randomness", "l1-height",
        "half-power"])
def test_invalid_forged_l2_parts_are_rejected(forge: Any) -> None:
    assert process([forge()], HONEST_VOTES) == REJECT_PROPOSAL


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=512), st.integers(0, 3))
def test_fuzzed_proposals_are_answered_accept_or_reject(data: bytes, how: int) -> None:
    honest = prepare(HONEST_VOTES)[0]
    tx = [data, ATTESTED_TX_PREFIX + data, honest[:len(data) % len(honest)],
          honest[:8] + data + honest[8:]][how]
    assert process([tx], HONEST_VOTES) in (ACCEPT_PROPOSAL, REJECT_PROPOSAL)


def test_finalize_block_applies_the_attested_l2_head_and_l1_height() -> None:
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, halt_fn=pytest.fail)
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_genesis())))
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    txs = prepare(HONEST_VOTES)
    response = app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(
        height=HEIGHT, txs=txs, decided_last_commit=compute_commit_info(HONEST_VOTES))))
    assert response.finalize_block.tx_results[0].code == 0, response
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    committed = app.store.overlay()
    assert chain.get_l2_head(committed) == (len(HEADERS), bytes(HEADERS[-1].hash))
    assert chain.get_attested_l1_height(committed) == 100
    assert chain.get_seed_request(committed) != SEED_REQUEST
