"""StateStore: overlays, the app hash, atomic commits and proofs."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abci_app.store import smt, state_store
from abci_app.store.backend import WriteOp
from abci_app.store.proof import verify_proof
from abci_app.store.state_store import StateStore, StoreError
from tests.unit.store.helpers import ZERO, naive_root

keys = st.binary(min_size=1, max_size=3)
ops = st.lists(st.tuples(keys, st.none() | st.binary(max_size=2)), max_size=30)


def committed(items: dict[bytes, bytes], height: int = 1) -> StateStore:
    store = StateStore(None)
    overlay = store.overlay()
    for key, value in items.items():
        overlay.set(key, value)
    store.commit(overlay, height)
    return store


def test_fresh_store_has_no_height_and_no_app_hash() -> None:
    store = StateStore(None)
    assert (store.last_height, store.last_app_hash) == (0, b"")
    assert store.compute_app_hash(store.overlay()) == ZERO


def test_keyspace_prefixes_are_pinned() -> None:
    assert state_store.DATA_PREFIX == b"\x01d"
    assert state_store.NODE_PREFIX == b"\x01n"
    assert state_store.LOCAL_PREFIX == b"\x02l"
    assert state_store.META_HEIGHT_KEY == b"\x00meta/last_height"
    assert state_store.META_APP_HASH_KEY == b"\x00meta/last_app_hash"


def test_commit_makes_writes_visible_to_new_overlays() -> None:
    store = committed({b"a": b"1", b"b": b"2"})
    assert store.last_height == 1
    assert store.last_app_hash == naive_root({b"a": b"1", b"b": b"2"})
    assert store.overlay().get(b"a") == b"1"
    assert list(store.iterate(b"")) == [(b"a", b"1"), (b"b", b"2")]


def test_overlays_do_not_see_each_other() -> None:
    store = committed({b"a": b"1"})
    block, check = store.overlay(), store.overlay()
    block.set(b"a", b"block")
    check.delete(b"a")
    assert block.get(b"a") == b"block"
    assert check.get(b"a") is None
    assert store.get(b"a") == b"1"


@given(st.dictionaries(keys, st.binary(max_size=2), max_size=20), ops, st.binary(max_size=1))
def test_overlay_iterate_matches_a_dict_model(base: dict[bytes, bytes],
                                              writes: list[tuple[bytes, bytes | None]],
                                              prefix: bytes) -> None:
    store = committed(base)
    overlay, model = store.overlay(), dict(base)
    for key, value in writes:
        if value is None:
            overlay.delete(key)
            model.pop(key, None)
        else:
            overlay.set(key, value)
            model[key] = value
    expected = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
    assert list(overlay.iterate(prefix)) == expected
    assert all(overlay.get(k) == model.get(k) for k, _ in writes)


@given(st.dictionaries(keys, st.binary(max_size=2), max_size=20), ops)
def test_app_hash_equals_the_root_of_the_resulting_state(
        base: dict[bytes, bytes], writes: list[tuple[bytes, bytes | None]]) -> None:
    store = committed(base)
    overlay, model = store.overlay(), dict(base)
    for key, value in writes:
        if value is None:
            overlay.delete(key)
            model.pop(key, None)
        else:
            overlay.set(key, value)
            model[key] = value
    assert store.compute_app_hash(overlay) == naive_root(model)
    assert store.commit(overlay, 2) == naive_root(model)


def test_compute_app_hash_writes_nothing() -> None:
    store = committed({b"a": b"1"})
    overlay = store.overlay()
    overlay.set(b"b", b"2")
    store.compute_app_hash(overlay)
    assert store.get(b"b") is None
    assert store.last_app_hash == naive_root({b"a": b"1"})
    assert smt.get_root(store.read_node) == naive_root({b"a": b"1"})


def test_app_hash_is_recomputed_after_the_overlay_changes() -> None:
    store = StateStore(None)
    overlay = store.overlay()
    overlay.set(b"a", b"1")
    first = store.compute_app_hash(overlay)
    overlay.set(b"b", b"2")
    second = store.compute_app_hash(overlay)
    assert first == naive_root({b"a": b"1"})
    assert second == naive_root({b"a": b"1", b"b": b"2"})
    assert store.commit(overlay, 1) == second


def test_invalid_commit_height_is_refused() -> None:
    store = committed({b"a": b"1"}, height=5)
    with pytest.raises(StoreError, match="height 7"):
        store.commit(store.overlay(), 7)
    with pytest.raises(StoreError):
        store.commit(store.overlay(), 5)
    assert store.commit(store.overlay(), 6) == store.last_app_hash


def test_first_commit_may_be_at_the_initial_height() -> None:
    store = committed({b"a": b"1"}, height=100)
    assert store.last_height == 100
    fresh = StateStore(None)
    with pytest.raises(StoreError):
        fresh.commit(fresh.overlay(), 0)


def test_overlay_from_before_a_commit_is_refused() -> None:
    store = StateStore(None)
    stale = store.overlay()
    store.commit(store.overlay(), 1)
    with pytest.raises(StoreError, match="before the last commit"):
        store.compute_app_hash(stale)
    with pytest.raises(StoreError):
        store.commit(stale, 2)


def test_local_entries_are_written_and_deleted_outside_the_tree() -> None:
    store = StateStore(None)
    overlay = store.overlay()
    store.commit(overlay, 1, local={b"app_hash/1": b"h1", b"gone": None})
    assert store.local_get(b"app_hash/1") == b"h1"
    assert store.last_app_hash == ZERO
    store.commit(store.overlay(), 2, local={b"app_hash/1": None})
    assert store.local_get(b"app_hash/1") is None


def test_query_returns_value_and_verifiable_proofs() -> None:
    store = committed({b"a": b"1", b"b": b"2", b"c": b"3"})
    value, proof = store.query(b"b", prove=True)
    assert value == b"2" and proof is not None
    assert verify_proof(store.last_app_hash, b"b", b"2", proof)
    missing, absent_proof = store.query(b"zz", prove=True)
    assert missing is None and absent_proof is not None
    assert verify_proof(store.last_app_hash, b"zz", None, absent_proof)
    assert store.query(b"a", prove=False) == (b"1", None)


def test_state_survives_reopening_the_database(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "db"))
    overlay = store.overlay()
    overlay.set(b"a", b"1")
    app_hash = store.commit(overlay, 3, local={b"x": b"y"})
    store.close()
    reopened = StateStore(str(tmp_path / "db"))
    assert (reopened.last_height, reopened.last_app_hash) == (3, app_hash)
    assert reopened.get(b"a") == b"1"
    assert reopened.local_get(b"x") == b"y"
    assert smt.get_root(reopened.read_node) == app_hash
    reopened.close()


@pytest.mark.parametrize("on_disk", [False, True])
def test_commit_that_fails_inside_the_batch_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool) -> None:
    path = str(tmp_path / "db") if on_disk else None
    store = StateStore(path)
    first = store.overlay()
    first.set(b"a", b"1")
    old_hash = store.commit(first, 1)
    overlay = store.overlay()
    overlay.set(b"a", b"2")
    overlay.set(b"b", b"2")
    real_ops = state_store.compute_commit_ops

    def failing_ops(*args: object, **kwargs: object) -> Iterator[WriteOp]:
        ops = real_ops(*args, **kwargs)  # type: ignore[arg-type]
        yield next(ops)  # part of the batch is filled, then the process "crashes"
        raise RuntimeError("crash while filling the batch")

    monkeypatch.setattr(state_store, "compute_commit_ops", failing_ops)
    with pytest.raises(RuntimeError):
        store.commit(overlay, 2)
    if on_disk:
        store.close()
        store = StateStore(path)
    assert (store.last_height, store.last_app_hash) == (1, old_hash)
    assert list(store.iterate(b"")) == [(b"a", b"1")]
    assert smt.get_root(store.read_node) == old_hash
    store.close()


def test_commit_reuses_the_app_hash_computed_for_the_block(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(None)
    overlay = store.overlay()
    overlay.set(b"a", b"1")
    calls: list[int] = []
    real_update = smt.compute_update

    def counting_update(*args: object) -> tuple[bytes, smt.NodeOps]:
        calls.append(1)
        return real_update(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(smt, "compute_update", counting_update)
    app_hash = store.compute_app_hash(overlay)
    assert store.commit(overlay, 1) == app_hash
    assert len(calls) == 1
