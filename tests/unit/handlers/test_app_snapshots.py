"""State sync through the app's ABCI snapshot methods, with an in-memory store."""

import json
from pathlib import Path

import nacl.signing

from abci_app import chain, pb
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import ProposalHandler
from abci_app.handlers.snapshots import SnapshotManager
from abci_app.node.home import sequencer_entry
from abci_app.store.state_store import StateStore

OFFER = pb.abci.ResponseOfferSnapshot
APPLY = pb.abci.ResponseApplySnapshotChunk


def make_app(folder: Path, interval: int) -> SeqsetApp:
    snapshots = SnapshotManager(folder, interval, keep_recent=2, chunk_bytes=256)

    def refuse_halt(reason: str) -> None:
        raise AssertionError(reason)

    return SeqsetApp(StateStore(None), ProposalHandler(), snapshots, refuse_halt)


def run_chain(app: SeqsetApp, heights: int) -> None:
    key = nacl.signing.SigningKey(bytes(32)).verify_key.encode()
    app_state = chain.make_genesis_app_state(
        [sequencer_entry(1, "0x" + "11" * 20, key, 1000 * 10**18)])
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id="snap-test", initial_height=1, app_state_bytes=json.dumps(app_state).encode())))
    for height in range(1, heights + 1):
        app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=height)))
        app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))


def call(app: SeqsetApp, **kwargs: object) -> pb.abci.Response:
    return app.handle(pb.abci.Request(**kwargs))


def test_a_snapshot_restores_a_fresh_app_to_the_same_height_and_hash(tmp_path: Path) -> None:
    source = make_app(tmp_path / "source", interval=2)
    run_chain(source, 4)
    info = call(source, info=pb.abci.RequestInfo()).info
    snapshots = call(source, list_snapshots=pb.abci.RequestListSnapshots()).list_snapshots
    assert [s.height for s in snapshots.snapshots] == [4, 2]
    snap = snapshots.snapshots[0]
    assert snap.chunks > 1  # small chunks, so the test crosses chunk boundaries

    target = make_app(tmp_path / "target", interval=0)
    offer = call(target, offer_snapshot=pb.abci.RequestOfferSnapshot(
        snapshot=snap, app_hash=info.last_block_app_hash)).offer_snapshot
    assert offer.result == OFFER.ACCEPT
    for index in range(snap.chunks):
        chunk = call(source, load_snapshot_chunk=pb.abci.RequestLoadSnapshotChunk(
            height=snap.height, format=snap.format, chunk=index)).load_snapshot_chunk.chunk
        result = call(target, apply_snapshot_chunk=pb.abci.RequestApplySnapshotChunk(
            index=index, chunk=chunk, sender="peer")).apply_snapshot_chunk
        assert result.result == APPLY.ACCEPT
    restored = call(target, info=pb.abci.RequestInfo()).info
    assert (restored.last_block_height, restored.last_block_app_hash) == \
        (info.last_block_height, info.last_block_app_hash)


def test_a_corrupted_chunk_is_refetched_and_a_wrong_app_hash_is_refused(tmp_path: Path) -> None:
    source = make_app(tmp_path / "source", interval=3)
    run_chain(source, 3)
    snap = call(source, list_snapshots=pb.abci.RequestListSnapshots()).list_snapshots.snapshots[0]
    chunks = [call(source, load_snapshot_chunk=pb.abci.RequestLoadSnapshotChunk(
        height=snap.height, format=snap.format, chunk=i)).load_snapshot_chunk.chunk
        for i in range(snap.chunks)]

    target = make_app(tmp_path / "target", interval=0)
    assert call(target, offer_snapshot=pb.abci.RequestOfferSnapshot(
        snapshot=snap, app_hash=b"\x01" * 32)).offer_snapshot.result == OFFER.ACCEPT
    bad = call(target, apply_snapshot_chunk=pb.abci.RequestApplySnapshotChunk(
        index=0, chunk=chunks[0] + b"x", sender="liar")).apply_snapshot_chunk
    assert bad.result == APPLY.RETRY and list(bad.refetch_chunks) == [0]
    assert list(bad.reject_senders) == ["liar"]
    results = [call(target, apply_snapshot_chunk=pb.abci.RequestApplySnapshotChunk(
        index=i, chunk=c)).apply_snapshot_chunk.result for i, c in enumerate(chunks)]
    assert results[-1] == APPLY.REJECT_SNAPSHOT  # the root is not the trusted app hash
    assert call(target, info=pb.abci.RequestInfo()).info.last_block_height == 0


def test_a_snapshot_with_inconsistent_metadata_is_rejected(tmp_path: Path) -> None:
    target = make_app(tmp_path / "target", interval=0)
    snap = pb.abci.Snapshot(height=5, format=1, chunks=2, hash=b"\x00" * 32, metadata=b"short")
    result = call(target, offer_snapshot=pb.abci.RequestOfferSnapshot(snapshot=snap))
    assert result.offer_snapshot.result == OFFER.REJECT
