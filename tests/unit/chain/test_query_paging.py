"""Paged queries (/withdrawals, /slashes, /l1/noops): limit, cursor, maximum page, cost."""

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from abci_app import chain, pb
from abci_app.chain import keys
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.query import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, decode_query_value
from abci_app.chain.state import put_record
from abci_app.errors import QueryBadCursorError
from abci_app.handlers.queries import answer_query
from abci_app.handlers.query_service import CODE_METADATA_KEY, QueryStub, add_query_service
from abci_app.store.kv import MemoryKV
from abci_app.store.state_store import StateStore

COUNT = MAX_PAGE_LIMIT + 250  # more than one maximum page


def _sequencer_of(record_id: int) -> int:
    return 1 + record_id % 3


def fill(kv: Any, count: int = COUNT) -> None:
    for i in range(1, count + 1):
        put_record(kv, keys.withdrawal_key(i), state.PendingWithdrawal(
            id=i, sequencer_id=_sequencer_of(i), amount_wei="1"))
        put_record(kv, keys.slash_key(i), state.SlashRecord(id=i, sequencer_id=_sequencer_of(i)))
        put_record(kv, keys.l1_noop_key(i), state.L1Noop(nonce=i))


@pytest.fixture(scope="module")
def kv() -> MemoryKV:
    memory = MemoryKV()
    fill(memory)
    return memory


# Each paged path: its request type and how to read the record ids from an answer.
PAGED: dict[str, tuple[Any, Callable[[Any], list[int]]]] = {
    "/withdrawals": (query_pb.QueryWithdrawalsRequest, lambda m: [w.id for w in m.withdrawals]),
    "/slashes": (query_pb.QuerySlashesRequest, lambda m: [s.id for s in m.slashes]),
    "/l1/noops": (query_pb.QueryL1NoopsRequest, lambda m: [n.nonce for n in m.noops]),
}


def ask(kv: Any, path: str, **fields: Any) -> tuple[list[int], bytes]:
    request_type, ids = next(v for k, v in PAGED.items() if path.startswith(k))
    data = request_type(**fields).SerializeToString()
    result = chain.query(kv, path, data, 0)
    assert result.code == 0, result.log
    message = decode_query_value(path, result.value)
    return ids(message), bytes(message.next_cursor)


@pytest.mark.parametrize("path", sorted(PAGED))
def test_first_page_has_the_default_size_and_a_cursor(kv: MemoryKV, path: str) -> None:
    ids, cursor = ask(kv, path)
    assert ids == list(range(1, DEFAULT_PAGE_LIMIT + 1))
    assert cursor != b""


@pytest.mark.parametrize("path", sorted(PAGED))
def test_cursor_continues_where_the_page_ended(kv: MemoryKV, path: str) -> None:
    seen: list[int] = []
    cursor, pages = b"", 0
    while True:
        ids, cursor = ask(kv, path, limit=400, cursor=cursor)
        seen += ids
        pages += 1
        if not cursor:
            break
    assert seen == list(range(1, COUNT + 1))
    assert pages == -(-COUNT // 400)


@pytest.mark.parametrize("path", sorted(PAGED))
def test_limit_above_the_maximum_gets_the_maximum_page(kv: MemoryKV, path: str) -> None:
    ids, cursor = ask(kv, path, limit=MAX_PAGE_LIMIT * 10)
    assert len(ids) == MAX_PAGE_LIMIT
    assert ask(kv, path, limit=MAX_PAGE_LIMIT * 10, cursor=cursor)[0] == list(
        range(MAX_PAGE_LIMIT + 1, COUNT + 1))


@pytest.mark.parametrize("path", sorted(PAGED))
@pytest.mark.parametrize("cursor", [b"\x01", b"\x00" * 9, b"not a cursor at all"])
def test_invalid_cursor_gets_the_bad_cursor_code(kv: MemoryKV, path: str, cursor: bytes) -> None:
    request_type, _ = PAGED[path]
    result = chain.query(kv, path, request_type(cursor=cursor).SerializeToString(), 0)
    assert (result.code, result.value) == (QueryBadCursorError.code, b"")
    assert "cursor" in result.log


@pytest.mark.parametrize("path", ["/withdrawals", "/slashes"])
def test_sequencer_suffix_filters_within_the_page(kv: MemoryKV, path: str) -> None:
    ids, cursor = ask(kv, path + "/2", limit=30)
    assert ids == [i for i in range(1, 31) if _sequencer_of(i) == 2]
    more, _ = ask(kv, path + "/2", limit=30, cursor=cursor)
    assert more == [i for i in range(31, 61) if _sequencer_of(i) == 2]


class CountingKV(MemoryKV):
    """Counts the entries iteration hands out."""

    read = 0

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for entry in super().iterate(prefix, start):
            self.read += 1
            yield entry


@pytest.mark.parametrize("path", sorted(PAGED))
def test_a_page_reads_at_most_limit_plus_one_entries(kv: MemoryKV, path: str) -> None:
    counting = CountingKV(kv.items())
    _, cursor = ask(counting, path, limit=MAX_PAGE_LIMIT)
    counting.read = 0
    ids, _ = ask(counting, path, limit=10, cursor=cursor)
    assert ids == list(range(MAX_PAGE_LIMIT + 1, MAX_PAGE_LIMIT + 11))
    assert counting.read == 11


def test_paging_over_abci_query_on_the_committed_store() -> None:
    store = StateStore(None)
    overlay = store.overlay()
    fill(overlay, 25)
    store.commit(overlay, 1)
    data = query_pb.QueryL1NoopsRequest(limit=10).SerializeToString()
    response = answer_query(store, pb.abci.RequestQuery(path="/l1/noops", data=data))
    first = query_pb.QueryL1NoopsResponse.FromString(response.value)
    assert [n.nonce for n in first.noops] == list(range(1, 11))
    data = query_pb.QueryL1NoopsRequest(limit=10, cursor=first.next_cursor).SerializeToString()
    response = answer_query(store, pb.abci.RequestQuery(path="/l1/noops", data=data))
    assert [n.nonce for n in query_pb.QueryL1NoopsResponse.FromString(response.value).noops] \
        == list(range(11, 21))
    bad = query_pb.QueryL1NoopsRequest(cursor=b"\x01").SerializeToString()
    response = answer_query(store, pb.abci.RequestQuery(path="/l1/noops", data=bad))
    assert (response.code, response.codespace) == (QueryBadCursorError.code, "seqset")


@pytest.fixture(scope="module")
def stub(kv: MemoryKV) -> Iterator[Any]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_query_service(server, lambda: kv)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield QueryStub(channel)
    finally:
        server.stop(grace=None)


def test_grpc_pages_follow_the_cursor(stub: Any) -> None:
    first = stub.Withdrawals(query_pb.QueryWithdrawalsRequest(sequencer_id=0), timeout=10)
    assert len(first.withdrawals) == DEFAULT_PAGE_LIMIT
    second = stub.Withdrawals(query_pb.QueryWithdrawalsRequest(
        limit=MAX_PAGE_LIMIT + 1, cursor=first.next_cursor), timeout=10)
    assert [w.id for w in second.withdrawals] == list(
        range(DEFAULT_PAGE_LIMIT + 1, DEFAULT_PAGE_LIMIT + MAX_PAGE_LIMIT + 1))
    last = stub.Withdrawals(query_pb.QueryWithdrawalsRequest(
        limit=MAX_PAGE_LIMIT, cursor=second.next_cursor), timeout=10)
    assert (last.withdrawals[-1].id, last.next_cursor) == (COUNT, b"")


def test_grpc_bad_cursor_is_invalid_argument_with_its_code(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.L1Noops(query_pb.QueryL1NoopsRequest(cursor=b"\x01\x02"), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (CODE_METADATA_KEY, str(QueryBadCursorError.code)) in tuple(
        info.value.trailing_metadata())
