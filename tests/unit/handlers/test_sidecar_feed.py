"""ExtendVote reads the sidecar feed's in-memory snapshot: stale means fewer events, never wrong."""

import json
import threading
from pathlib import Path

import nacl.signing
import pytest

from abci_app import chain, pb
from abci_app.devnet.relay_testing import make_event
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import ProposalHandler, get_relay_params
from abci_app.handlers.sidecar_feed import SidecarFeed
from abci_app.l1.client import Observation, ObservedQuery, SidecarClient
from abci_app.node.home import sequencer_entry
from abci_app.relay.extension import decode_extension
from abci_app.relay.types import RelayView
from abci_app.store.kv import MemoryKV
from abci_app.store.state_store import StateStore

CHAIN_ID = "feed-test"
WAIT_S = 5


class FakeSidecar:
    """Serves `log` like a real sidecar: contiguous events after the asked nonce."""

    def __init__(self, count: int) -> None:
        self.log = [make_event(nonce) for nonce in range(1, count + 1)]
        self.calls: list[tuple[int, int, int]] = []
        self.queries: list[ObservedQuery] = []
        self.called = threading.Event()
        self.closed = False
        self.fail_next = False

    def observe(self, query: ObservedQuery, timeout_s: float) -> Observation:
        self.calls.append((query.after_nonce, query.max_events, query.max_bytes))
        self.queries.append(query)
        self.called.set()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("a bug in the client")
        events = [e for e in self.log if e.nonce > query.after_nonce][:query.max_events]
        return Observation(events=tuple(events))

    def close(self) -> None:
        self.closed = True


def make_genesis(last_applied: int) -> bytes:
    key = nacl.signing.SigningKey(bytes(32)).verify_key.encode()
    doc = chain.make_genesis_app_state(
        [sequencer_entry(1, "0x" + "11" * 20, key, 1000 * 10**18)])
    doc["last_l1_nonce"] = last_applied
    return json.dumps(doc).encode()


def make_committed_kv(last_applied: int) -> MemoryKV:
    kv = MemoryKV()
    chain.init_chain(kv, make_genesis(last_applied), CHAIN_ID, 0, 1)
    return kv


def extend(handler: ProposalHandler, kv: MemoryKV) -> list[int]:
    data = handler.extend(pb.abci.RequestExtendVote(height=2), kv)
    decoded = decode_extension(data, get_relay_params(kv))
    assert decoded is not None, "ExtendVote built a malformed extension"
    return [int(event.nonce) for event in decoded.events]


@pytest.mark.parametrize(("snapshot_after", "served", "last_applied", "expected"), [
    (3, 8, 3, [4, 5, 6, 7, 8]),  # fresh
    (0, 8, 3, [4, 5, 6, 7, 8]),  # stale: the applied ones are skipped
    (0, 2, 3, []),               # stale and short: nothing after the window start
    (5, 8, 3, []),               # starts past the window: a gap, so nothing
])
def test_extend_takes_the_contiguous_window_after_the_committed_nonce(
        snapshot_after: int, served: int, last_applied: int, expected: list[int]) -> None:
    sidecar = FakeSidecar(served)
    feed = SidecarFeed(sidecar)
    kv = make_committed_kv(last_applied)
    feed.note_committed(RelayView(last_applied_nonce=snapshot_after), get_relay_params(kv))
    feed.refresh()
    calls_before = len(sidecar.calls)
    assert extend(ProposalHandler(feed), kv) == expected
    assert len(sidecar.calls) == calls_before, "ExtendVote must not ask the sidecar"


def test_feed_asks_for_two_extension_windows_after_the_committed_nonce() -> None:
    sidecar = FakeSidecar(0)
    feed = SidecarFeed(sidecar)
    params = get_relay_params(make_committed_kv(0))
    feed.refresh()
    assert sidecar.calls == [], "nothing committed yet: the feed must not guess a nonce"
    feed.note_committed(RelayView(last_applied_nonce=7), params)
    feed.refresh()
    assert sidecar.calls == [(7, 2 * params.max_events_per_extension,
                              2 * params.max_extension_bytes)]


def test_extend_before_any_answer_is_empty() -> None:
    assert extend(ProposalHandler(SidecarFeed(FakeSidecar(5))), make_committed_kv(0)) == []


def test_dead_sidecar_empties_the_snapshot_and_extend_does_not_raise(tmp_path: Path) -> None:
    client = SidecarClient(f"unix:{tmp_path / 'absent.sock'}")
    feed = SidecarFeed(client, timeout_s=0.3)
    kv = make_committed_kv(0)
    handler = ProposalHandler(feed)
    feed.note_committed(RelayView(), get_relay_params(kv))
    feed.refresh()
    assert feed.get_observed() == Observation()
    assert handler.extend(pb.abci.RequestExtendVote(height=2), kv) == b""
    feed.stop()


def test_sidecar_going_silent_empties_a_full_snapshot() -> None:
    sidecar = FakeSidecar(4)
    feed = SidecarFeed(sidecar)
    kv = make_committed_kv(0)
    feed.note_committed(RelayView(), get_relay_params(kv))
    feed.refresh()
    assert extend(ProposalHandler(feed), kv) == [1, 2, 3, 4]
    sidecar.log = []  # what SidecarClient answers on any failure
    feed.refresh()
    assert extend(ProposalHandler(feed), kv) == []


def test_commit_points_the_feed_at_the_new_nonce() -> None:
    sidecar = FakeSidecar(6)
    feed = SidecarFeed(sidecar)
    app = SeqsetApp(StateStore(None), ProposalHandler(feed), None, halt_fn=pytest.fail)
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_genesis(4))))
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    feed.refresh()
    assert [call[0] for call in sidecar.calls] == [4]
    response = app.handle(pb.abci.Request(extend_vote=pb.abci.RequestExtendVote(height=2)))
    decoded = decode_extension(response.extend_vote.vote_extension,
                               get_relay_params(app.store.overlay()))
    assert decoded is not None
    assert [int(event.nonce) for event in decoded.events] == [5, 6]


def test_poller_wakes_on_commit_survives_a_bug_and_stops_cleanly() -> None:
    sidecar = FakeSidecar(3)
    sidecar.fail_next = True
    # A long interval, so only note_committed can trigger the polls below in time.
    feed = SidecarFeed(sidecar, poll_interval_s=60)
    params = get_relay_params(make_committed_kv(0))
    feed.start()
    try:
        feed.note_committed(RelayView(), params)
        assert sidecar.called.wait(WAIT_S), "the poller did not wake on a commit"
        sidecar.called.clear()
        feed.note_committed(RelayView(last_applied_nonce=1), params)
        assert sidecar.called.wait(WAIT_S), "the poller died after a failed poll"
        assert sidecar.calls[-1][0] == 1
    finally:
        feed.stop()
    assert feed._thread is None and sidecar.closed
    assert not any(t.name == "sidecar-feed" for t in threading.enumerate())


def test_a_proposal_wakes_the_poller_so_extend_vote_carries_events_confirmed_meanwhile(
) -> None:
    sidecar = FakeSidecar(4)
    # A long interval, so only the Commit and the proposal can trigger polls in time.
    feed = SidecarFeed(sidecar, poll_interval_s=60)
    app = SeqsetApp(StateStore(None), ProposalHandler(feed), None, halt_fn=pytest.fail)
    feed.start()
    try:
        app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
            chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_genesis(4))))
        app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
        app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
        assert sidecar.called.wait(WAIT_S), "the poller did not wake on the commit"
        sidecar.called.clear()
        sidecar.log.append(make_event(5))  # confirmed on L1 during height 2
        app.handle(pb.abci.Request(process_proposal=pb.abci.RequestProcessProposal(height=2)))
        assert sidecar.called.wait(WAIT_S), "the poller did not wake on the proposal"
        for _ in range(WAIT_S * 100):
            if feed.get_observed().events:
                break
            threading.Event().wait(0.01)
        response = app.handle(pb.abci.Request(extend_vote=pb.abci.RequestExtendVote(height=2)))
    finally:
        feed.stop()
    decoded = decode_extension(response.extend_vote.vote_extension,
                               get_relay_params(app.store.overlay()))
    assert decoded is not None
    assert [int(event.nonce) for event in decoded.events] == [5]
