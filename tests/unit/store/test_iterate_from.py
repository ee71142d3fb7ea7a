"""iterate(prefix, start): the entries under a prefix from a key on, in every KVStore."""

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.store.kv import MemoryKV
from abci_app.store.state_store import StateStore

keys = st.binary(min_size=1, max_size=3)
ops = st.lists(st.tuples(keys, st.none() | st.binary(max_size=2)), max_size=20)


def _expected(model: dict[bytes, bytes], prefix: bytes, start: bytes) -> list[tuple[bytes, bytes]]:
    return sorted((k, v) for k, v in model.items() if k.startswith(prefix) and k >= start)


def _commit(store: StateStore, base: dict[bytes, bytes]) -> dict[bytes, bytes]:
    overlay = store.overlay()
    for key, value in base.items():
        overlay.set(key, value)
    store.commit(overlay, 1)
    return dict(base)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(keys, st.binary(max_size=2), max_size=20), ops,
       st.binary(max_size=1), st.binary(max_size=3))
def test_overlay_iterate_from_start_matches_a_dict_model(
        base: dict[bytes, bytes], writes: list[tuple[bytes, bytes | None]],
        prefix: bytes, start: bytes) -> None:
    with tempfile.TemporaryDirectory() as db_dir:
        for store in (StateStore(None), StateStore(db_dir)):
            model = _commit(store, base)
            overlay = store.overlay()
            for key, value in writes:
                if value is None:
                    overlay.delete(key)
                    model.pop(key, None)
                else:
                    overlay.set(key, value)
                    model[key] = value
            assert list(overlay.iterate(prefix, start)) == _expected(model, prefix, start)
            assert list(store.iterate(prefix, start)) == _expected(base, prefix, start)
            store.close()


def test_memory_kv_iterates_from_start() -> None:
    kv = MemoryKV({b"p1": b"a", b"p2": b"b", b"p3": b"c", b"q1": b"d"})
    assert list(kv.iterate(b"p", b"p2")) == [(b"p2", b"b"), (b"p3", b"c")]
    assert list(kv.iterate(b"p", b"a")) == [(b"p1", b"a"), (b"p2", b"b"), (b"p3", b"c")]
    assert list(kv.iterate(b"p", b"q")) == []
