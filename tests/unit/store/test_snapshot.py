"""State-sync snapshots: export, restore, and refusal of a state that does not match."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abci_app.store import smt
from abci_app.store.snapshot import (
    SnapshotError,
    SnapshotRestorer,
    compute_chunks,
    compute_records,
    export_snapshot,
)
from abci_app.store.state_store import StateStore

states = st.dictionaries(st.binary(max_size=4), st.binary(max_size=40), max_size=40)


def store_with(items: dict[bytes, bytes], height: int = 7, path: str | None = None) -> StateStore:
    store = StateStore(path)
    overlay = store.overlay()
    for key, value in items.items():
        overlay.set(key, value)
    store.commit(overlay, height)
    return store


def restore(chunks: list[bytes], height: int, app_hash: bytes,
            path: str | None = None) -> StateStore:
    target = StateStore(path)
    restorer = SnapshotRestorer(target)
    for index, chunk in enumerate(chunks):
        restorer.apply_chunk(index, chunk)
    restorer.finish(height, app_hash)
    return target


def assert_empty(store: StateStore) -> None:
    assert store.last_height == 0
    assert list(store.iterate(b"")) == []
    assert smt.get_root(store.read_node) == bytes(32)


@given(states, st.integers(1, 200))
def test_snapshot_round_trip_gives_the_same_state_and_root(items: dict[bytes, bytes],
                                                           chunk_size: int) -> None:
    source = store_with(items)
    height, app_hash, chunks = export_snapshot(source, chunk_size)
    assert (height, app_hash) == (7, source.last_app_hash)
    target = restore(chunks, height, app_hash)
    assert (target.last_height, target.last_app_hash) == (7, app_hash)
    assert list(target.iterate(b"")) == sorted(items.items())
    nodes = list(smt.compute_root_from_items(items.items())[1].items())
    assert all(target.read_node(key) == node for key, node in nodes)


@given(st.lists(st.tuples(st.binary(max_size=5), st.binary(max_size=30)), max_size=30),
       st.integers(1, 100))
def test_chunks_cut_at_record_boundaries_within_the_size(
        items: list[tuple[bytes, bytes]], chunk_size: int) -> None:
    chunks = compute_chunks(items, chunk_size)
    decoded = [record for chunk in chunks for record in compute_records(chunk)]
    assert decoded == items
    for chunk in chunks:
        records = list(compute_records(chunk))
        assert len(chunk) <= chunk_size or len(records) == 1


def test_restored_store_accepts_the_next_block(tmp_path: Path) -> None:
    source = store_with({b"a": b"1", b"b": b"2"}, height=10)
    height, app_hash, chunks = export_snapshot(source, 1024)
    target = restore(chunks, height, app_hash, path=str(tmp_path / "db"))
    overlay = target.overlay()
    overlay.set(b"c", b"3")
    source_overlay = source.overlay()
    source_overlay.set(b"c", b"3")
    assert target.commit(overlay, 11) == source.commit(source_overlay, 11)
    target.close()


def test_empty_state_exports_one_empty_chunk() -> None:
    source = store_with({}, height=1)
    height, app_hash, chunks = export_snapshot(source, 100)
    assert (height, app_hash, chunks) == (1, bytes(32), [b""])
    assert restore(chunks, 1, app_hash).last_app_hash == bytes(32)


def test_export_reads_one_consistent_view() -> None:
    source = store_with({b"a": b"1"}, height=1)
    with source.consistent_view() as view:
        later = source.overlay()
        later.set(b"b", b"2")
        source.commit(later, 2)
        assert view.last_height == 1
        assert list(view.iterate(b"")) == [(b"a", b"1")]


def test_invalid_snapshot_with_tampered_value_is_refused_and_leaves_the_store_empty() -> None:
    source = store_with({b"a": b"1", b"b": b"2"})
    height, app_hash, chunks = export_snapshot(source, 1024)
    tampered = [chunks[0].replace(b"\x00\x00\x00\x012", b"\x00\x00\x00\x019")]
    assert tampered != chunks
    target = StateStore(None)
    restorer = SnapshotRestorer(target)
    restorer.apply_chunk(0, tampered[0])
    with pytest.raises(SnapshotError, match="expected"):
        restorer.finish(height, app_hash)
    assert_empty(target)


def test_invalid_snapshot_missing_a_chunk_is_refused() -> None:
    source = store_with({bytes([i]): b"v" * 10 for i in range(30)})
    height, app_hash, chunks = export_snapshot(source, 50)
    assert len(chunks) > 2
    with pytest.raises(SnapshotError):
        restore(chunks[:-1], height, app_hash)


def test_invalid_malformed_chunk_is_refused_and_leaves_the_store_empty() -> None:
    target = StateStore(None)
    restorer = SnapshotRestorer(target)
    restorer.apply_chunk(0, compute_chunks([(b"a", b"1")], 100)[0])
    with pytest.raises(SnapshotError, match="truncated"):
        restorer.apply_chunk(1, b"\x00\x00\x00\x05ab")
    assert_empty(target)


def test_invalid_chunk_with_unordered_keys_is_refused() -> None:
    chunk = compute_chunks([(b"b", b"1"), (b"a", b"1")], 100)[0]
    with pytest.raises(SnapshotError, match="out of order"):
        SnapshotRestorer(StateStore(None)).apply_chunk(0, chunk)


def test_restore_into_a_store_with_a_height_is_refused() -> None:
    with pytest.raises(SnapshotError, match="height 7"):
        SnapshotRestorer(store_with({b"a": b"1"}))


def test_restore_clears_leftovers_of_an_interrupted_restore() -> None:
    target = StateStore(None)
    SnapshotRestorer(target).apply_chunk(0, compute_chunks([(b"junk", b"x")], 100)[0])
    source = store_with({b"a": b"1"})
    height, app_hash, chunks = export_snapshot(source, 100)
    restorer = SnapshotRestorer(target)
    restorer.apply_chunk(0, chunks[0])
    restorer.finish(height, app_hash)
    assert list(target.iterate(b"")) == [(b"a", b"1")]
