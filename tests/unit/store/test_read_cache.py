"""The committed-read cache: it saves database reads and never serves a stale value."""

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from abci_app.store import read_cache
from abci_app.store.state_store import StateStore


class Counts:
    """How often the store's backend was read: point reads and scans."""

    def __init__(self) -> None:
        self.gets = 0
        self.scans = 0


def counting_store(items: dict[bytes, bytes]) -> tuple[StateStore, Counts]:
    store = StateStore(None)
    commit(store, items)
    backend, counts = store._db, Counts()
    get, iterate = backend.get, backend.iterate

    def counted_get(key: bytes) -> bytes | None:
        counts.gets += 1
        return get(key)

    def counted_iterate(prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        counts.scans += 1
        return iterate(prefix, start)

    backend.get, backend.iterate = counted_get, counted_iterate  # type: ignore[method-assign]
    return store, counts


def commit(store: StateStore, writes: dict[bytes, bytes | None]) -> None:
    overlay = store.overlay()
    for key, value in writes.items():
        if value is None:
            overlay.delete(key)
        else:
            overlay.set(key, value)
    store.commit(overlay, store.last_height + 1)


def test_repeated_reads_of_one_height_hit_the_database_once() -> None:
    store, backend = counting_store({b"params": b"p", b"vs/1": b"a", b"vs/2": b"b"})
    gets, scans = backend.gets, backend.scans
    for _ in range(5):
        assert store.overlay().get(b"params") == b"p"
        assert store.overlay().get(b"missing") is None
        assert list(store.overlay().iterate(b"vs/")) == [(b"vs/1", b"a"), (b"vs/2", b"b")]
    assert (backend.gets - gets, backend.scans - scans) == (2, 1)


def test_a_commit_updates_cached_values_and_drops_the_scans_it_touches() -> None:
    store, backend = counting_store({b"a": b"1", b"vs/1": b"x", b"other/1": b"y"})
    assert store.get(b"a") == b"1" and store.get(b"b") is None
    assert list(store.iterate(b"vs/")) == [(b"vs/1", b"x")]
    assert list(store.iterate(b"other/")) == [(b"other/1", b"y")]
    commit(store, {b"a": None, b"b": b"2", b"vs/2": b"z"})
    scans = backend.scans
    assert store.get(b"a") is None and store.get(b"b") == b"2"
    assert list(store.iterate(b"vs/")) == [(b"vs/1", b"x"), (b"vs/2", b"z")]
    assert list(store.iterate(b"other/")) == [(b"other/1", b"y")]
    assert backend.scans - scans == 1  # only the touched prefix is read again


def test_a_scan_stopped_early_is_remembered_when_small() -> None:
    store, backend = counting_store({b"idx/1": b"a", b"idx/2": b"b"})
    scans = backend.scans
    for _ in range(3):
        assert next(iter(store.iterate(b"idx/"))) == (b"idx/1", b"a")
    assert backend.scans - scans == 1


def test_a_large_scan_is_read_from_the_database_every_time() -> None:
    items = {b"big/%03d" % i: b"v" for i in range(read_cache.MAX_SCAN_ITEMS + 1)}
    store, backend = counting_store(items)
    scans = backend.scans
    for _ in range(3):
        assert len(list(store.iterate(b"big/"))) == len(items)
    assert backend.scans - scans == 3


def test_a_restore_or_wipe_forgets_every_cached_read() -> None:
    store = StateStore(None)
    assert store.get(b"k") is None and list(store.iterate(b"k")) == []
    store.restore_data([(b"k", b"v")])
    assert store.get(b"k") == b"v" and list(store.iterate(b"k")) == [(b"k", b"v")]
    store.wipe()
    assert store.get(b"k") is None and list(store.iterate(b"k")) == []


def test_a_read_that_raced_a_commit_is_not_remembered() -> None:
    cache = read_cache.ReadCache()

    def read_then_commit(key: bytes) -> bytes | None:
        cache.apply({key: b"new"})  # the commit lands while the old value is in hand
        return b"old"

    assert cache.get(b"k", read_then_commit) == b"old"
    assert cache.get(b"k", lambda key: b"new") == b"new"


keys = st.sampled_from([b"a", b"a/1", b"a/2", b"b/1", b"b/2", b"c"])
blocks = st.lists(st.dictionaries(keys, st.none() | st.binary(max_size=2), max_size=4),
                  max_size=6)


@given(blocks)
def test_cached_reads_always_equal_the_database(history: list[dict[bytes, bytes | None]]) -> None:
    store = StateStore(None)
    for writes in history:
        for prefix in (b"", b"a", b"a/", b"b/"):
            list(store.iterate(prefix))  # fill the cache before the commit
        commit(store, writes)
        db = store._db
        for key in (b"a", b"a/1", b"a/2", b"b/1", b"b/2", b"c"):
            assert store.get(key) == db.get(b"\x01d" + key)
        for prefix in (b"", b"a", b"a/", b"b/"):
            expected = [(k[2:], v) for k, v in db.iterate(b"\x01d" + prefix)]
            assert list(store.iterate(prefix)) == expected


def test_scans_at_paged_cursors_cannot_keep_the_scan_table_full() -> None:
    """abci_query pages take any cursor: filling the table must not stop later scans
    (the validator sets read every block) from being remembered."""
    store, counts = counting_store({b"page/" + bytes([i]): b"x" for i in range(4)}
                                   | {b"valset/1": b"v"})
    for cursor in range(read_cache.MAX_CACHED_SCANS):
        list(store.iterate(b"page/", b"page/" + cursor.to_bytes(8, "big")))
    counts.scans = 0
    for _ in range(3):
        assert list(store.iterate(b"valset/")) == [(b"valset/1", b"v")]
    assert counts.scans == 1
