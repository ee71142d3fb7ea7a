"""The in-memory top of the tree never changes a root, a proof or a stored node."""

import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.store import smt, state_store
from abci_app.store.backend import WriteOp
from abci_app.store.state_store import StateStore
from tests.unit.store.helpers import naive_proof, naive_root

keys = st.binary(min_size=0, max_size=2)
changes = st.dictionaries(keys, st.none() | st.binary(max_size=2), max_size=12)
# A step is a block of changes, committed (True) or failing inside the batch (False).
steps = st.lists(st.tuples(changes, st.booleans()), min_size=1, max_size=8)
PROBES = [b"", b"\x00", b"a", b"ab", b"\xff\xff"]


def commit_failing(store: StateStore, overlay: state_store.Overlay, height: int,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    real_ops = state_store.compute_commit_ops

    def failing_ops(*args: object, **kwargs: object) -> Iterator[WriteOp]:
        ops = real_ops(*args, **kwargs)  # type: ignore[arg-type]
        yield next(ops)
        raise RuntimeError("crash while filling the batch")

    with monkeypatch.context() as patch:
        patch.setattr(state_store, "compute_commit_ops", failing_ops)
        with pytest.raises(RuntimeError):
            store.commit(overlay, height)


def check_store_matches(store: StateStore, model: dict[bytes, bytes]) -> None:
    root = smt.get_root(store.read_node)
    assert root == naive_root(model)
    assert store.last_app_hash in (root, b"")  # b"" before the first commit
    _, fresh_nodes = smt.compute_root_from_items(model.items())
    assert all(store.read_node(key) == node for key, node in fresh_nodes.items())
    for key in PROBES + sorted(model):
        value, proof = store.query(key, prove=True)
        assert value == model.get(key)
        assert proof == naive_proof(model, key)


@pytest.mark.parametrize("cached_depth", [0, 2, 256])
@settings(max_examples=40, deadline=None)
@given(blocks=steps)
def test_cached_store_gives_the_reference_roots_proofs_and_nodes(
        blocks: list[tuple[dict[bytes, bytes | None], bool]], cached_depth: int) -> None:
    store = StateStore(None, cached_depth=cached_depth)
    model: dict[bytes, bytes] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for block, succeeds in blocks:
            overlay = store.overlay()
            for key, value in block.items():
                overlay.set(key, value) if value is not None else overlay.delete(key)
            app_hash = store.compute_app_hash(overlay)
            if succeeds:
                assert store.commit(overlay, store.last_height + 1) == app_hash
                model = {k: v for k, v in {**model, **block}.items() if v is not None}
            else:
                commit_failing(store, overlay, store.last_height + 1, monkeypatch)
            check_store_matches(store, model)


@settings(max_examples=15, deadline=None)
@given(before=changes, restored=st.dictionaries(keys, st.binary(max_size=2), max_size=12),
       after=changes)
def test_cache_follows_a_wipe_and_restore_on_disk(
        before: dict[bytes, bytes | None], restored: dict[bytes, bytes],
        after: dict[bytes, bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(tmp + "/db", cached_depth=256)
        # An interrupted restore left nodes behind, and reads have cached them.
        leftover = {k: v for k, v in before.items() if v is not None}
        _, leftover_nodes = smt.compute_root_from_items(leftover.items())
        store.restore_data(sorted(leftover.items()))
        store._db.write(leftover_nodes.items())  # noqa: SLF001 - simulate the leftovers
        store.query(b"a", prove=True)
        store.wipe()
        store.restore_data(sorted(restored.items()))
        root, nodes = smt.compute_root_from_items(restored.items())
        store.finish_restore(7, root, nodes)
        check_store_matches(store, restored)
        overlay = store.overlay()
        for key, value in after.items():
            overlay.set(key, value) if value is not None else overlay.delete(key)
        store.commit(overlay, 8)
        model = {k: v for k, v in {**restored, **after}.items() if v is not None}
        check_store_matches(store, model)
        store.close()
        reopened = StateStore(tmp + "/db")
        check_store_matches(reopened, model)
        reopened.close()
