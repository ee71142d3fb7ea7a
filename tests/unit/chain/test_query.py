"""abci_query paths and the gRPC Query service: one table, the same answers."""

import ast
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.query import (
    QUERY_ROUTES,
    compute_request,
    decode_query_value,
    find_route,
)
from abci_app.errors import QueryBadRequestError, QueryNotFoundError
from abci_app.handlers.query_service import (
    CODE_METADATA_KEY,
    SERVICE_NAME,
    QueryStub,
    add_query_service,
)
from tests.unit.chain.helpers import (
    ETH,
    SETTLEMENT_PARAMS,
    Driver,
    consensus_address,
    l1_event,
    l2_block_hash,
    make_driver,
    make_l2_driver,
    make_unjail_tx,
    signer_address,
)

CHAIN_DIR = Path(__file__).resolve().parents[3] / "abci_app" / "chain"


@pytest.fixture
def driver() -> Driver:
    d = make_l2_driver([10 * ETH, 20 * ETH], **SETTLEMENT_PARAMS)
    d.block(produce=2, l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(ETH)),
        l1_event(2, "lock_increased", sequencer_id=99, amount_wei="1")])
    d.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(2), d.height,
                                           d.time_ns, 30)])
    d.block()  # the rotation (before user txs) replaces the tombstoned producer a block later
    return d


def _ask(driver: Driver, path: str, data: bytes = b"") -> tuple[Any, bytes]:
    result = chain.query(driver.kv, path, data, driver.height)
    assert result.code == 0, result.log
    return decode_query_value(path, result.value), result.key


# Each route: an example path and what its decoded answer must hold in the fixture.
EXPECTED: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "params": ("/params", lambda m: m.params.epoch_length == 10),
    "sequencer": ("/sequencer/2", lambda m: (m.sequencer.id, m.sequencer.locked_wei)
                  == (2, str(20 * ETH - 20 * ETH * 500 // 10_000))),
    "sequencers": ("/sequencers", lambda m: [s.id for s in m.sequencers] == [1, 2]),
    "validators": ("/validators", lambda m: m.height == 4 and  # updates apply at H+2
                   sorted((v.sequencer_id, v.power) for v in m.validators) == [(1, 9)]),
    "schedule": ("/schedule", lambda m: m.current.epoch == 0 and m.next.epoch == 1),
    "epoch": ("/epoch", lambda m: (m.epoch, m.first_l2_height, m.last_l2_height) == (0, 1, 10)
              and m.producer_id in (1, 2)),
    "sequencer_at": ("/sequencer_at/3", lambda m: (m.l2_height, m.epoch) == (3, 0)
                     and m.sequencer_id in (1, 2)),
    "withdrawals": ("/withdrawals/1", lambda m: [(w.sequencer_id, w.amount_wei)
                                                 for w in m.withdrawals] == [(1, str(ETH))]
                    and m.next_cursor == b""),
    "slashes": ("/slashes", lambda m: [s.sequencer_id for s in m.slashes] == [2]
                and m.next_cursor == b""),
    "account": ("/account/0x" + signer_address(1).hex(),
                lambda m: (m.account.address, m.account.nonce) == (signer_address(1), 0)),
    "l1/last_nonce": ("/l1/last_nonce", lambda m: m.nonce == 2),
    "l1/noops": ("/l1/noops", lambda m: [n.nonce for n in m.noops] == [2]
                 and m.next_cursor == b""),
    "totals": ("/totals", lambda m: m.totals.total_pending_wei == str(ETH)),
    # Sequencer 2 is tombstoned in the fixture, so sequencer 1 produces from height 3 on.
    "l2/head": ("/l2/head", lambda m: (m.height, m.hash, m.epoch, m.l2_chain_id)
                == (2, l2_block_hash(2), 0, 901)
                and (m.producer_id, m.producer_signer, m.next_producer_id) == (
                    1, signer_address(1), 1)
                and m.next_epoch_producer_id == 1 and m.last_progress_time_ns > 0),
    # The double sign at height 2 went into batch 1 at the end of that block.
    "settlement/pending": ("/settlement/pending", lambda m: m.batch.nonce == 1
                           and list(m.batch.slash_ids) == [1] and not m.complete
                           and m.total_stake_wei == str(29 * ETH)),  # L1: 9 + 20
    "settlement/batch": ("/settlement/batch/1", lambda m: (m.batch.nonce, m.batch.status)
                         == (1, state.SETTLEMENT_STATUS_IN_FLIGHT)),
}


def test_every_route_has_an_expected_answer() -> None:
    assert set(EXPECTED) == {route.path for route in QUERY_ROUTES}


@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_every_path_answers_with_its_content(driver: Driver, route: str) -> None:
    path, check = EXPECTED[route]
    message, _ = _ask(driver, path)
    assert type(message) is find_route(path)[0].response_type
    assert check(message), f"{path} answered {message}"


def test_params_query_returns_proto_and_proof_key(driver: Driver) -> None:
    _, key = _ask(driver, "/params")
    assert key == keys.PARAMS


def test_single_record_answers_name_their_state_key(driver: Driver) -> None:
    assert _ask(driver, "/sequencer/2")[1] == keys.sequencer_key(2)
    assert _ask(driver, "/l1/last_nonce")[1] == keys.CHAIN_STATE
    assert _ask(driver, "/withdrawals")[1] == b""


def test_account_query_reports_next_nonce(driver: Driver) -> None:
    epoch, _ = _ask(driver, "/epoch")
    p = epoch.producer_id
    driver.block(txs=[make_unjail_tx(p, 0, p)])  # fails (not jailed) but uses the nonce
    account, key = _ask(driver, "/account/0x" + signer_address(p).hex())
    assert account.account.nonce == 1
    assert key == keys.account_key(signer_address(p))


def test_request_message_in_data_fills_the_fields(driver: Driver) -> None:
    by_path, _ = _ask(driver, "/withdrawals/1")
    data = query_pb.QueryWithdrawalsRequest(sequencer_id=1).SerializeToString()
    assert _ask(driver, "/withdrawals", data)[0] == by_path
    assert _ask(driver, "/withdrawals/1", data)[0] == by_path
    other = query_pb.QueryWithdrawalsRequest(sequencer_id=2).SerializeToString()
    assert len(_ask(driver, "/withdrawals", other)[0].withdrawals) == 0


@pytest.mark.parametrize(("path", "data", "code"), [
    ("/sequencer/77", b"", QueryNotFoundError.code),
    ("/sequencer/x", b"", QueryBadRequestError.code),
    ("/sequencer_at/0", b"", QueryBadRequestError.code),
    ("/account/0x12", b"", QueryBadRequestError.code),
    ("/account/0x" + "zz" * 20, b"", QueryBadRequestError.code),
    ("/nothing", b"", QueryBadRequestError.code),
    ("", b"", QueryBadRequestError.code),
    ("/l1", b"", QueryBadRequestError.code),
    ("/params/extra", b"", QueryBadRequestError.code),
    ("/withdrawals/1/2", b"", QueryBadRequestError.code),
    ("/params", b"\xff\xff", QueryBadRequestError.code),
    ("/sequencer/1", query_pb.QuerySequencerRequest(id=2).SerializeToString(),
     QueryBadRequestError.code),
    ("/sequencer", query_pb.QuerySequencerRequest(id=2).SerializeToString(),
     QueryBadRequestError.code),
])
def test_invalid_query_returns_code_not_exception(driver: Driver, path: str, data: bytes,
                                                  code: int) -> None:
    result = chain.query(driver.kv, path, data, 0)
    assert (result.code, result.value) == (code, b"")
    assert result.log


# --- the table against the proto service, and gRPC ---------------------------------------


def test_table_matches_the_proto_service() -> None:
    service = query_pb.DESCRIPTOR.services_by_name["Query"]
    assert sorted(r.rpc for r in QUERY_ROUTES) == sorted(m.name for m in service.methods)
    for route in QUERY_ROUTES:
        method = service.methods_by_name[route.rpc]
        assert method.input_type is route.request_type.DESCRIPTOR
        assert method.output_type is route.response_type.DESCRIPTOR
        assert {a.field for a in route.args} <= set(route.request_type.DESCRIPTOR.fields_by_name)


def test_chain_has_no_grpc_import() -> None:
    for source in CHAIN_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module}"] if isinstance(node, ast.ImportFrom) else [])
            assert not any("grpc" in n for n in names), f"{source.name} imports {names}"


@pytest.fixture
def channel(driver: Driver) -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_query_service(server, lambda: driver.kv)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as open_channel:
            yield open_channel
    finally:
        server.stop(grace=None)


def test_grpc_answers_every_route_like_abci_query(driver: Driver, channel: grpc.Channel) -> None:
    for route in QUERY_ROUTES:
        path = EXPECTED[route.path][0]
        request = compute_request(route, find_route(path)[1], b"")
        call = channel.unary_unary(f"/{SERVICE_NAME}/{route.rpc}",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda raw: raw)
        assert call(request, timeout=10) == chain.query(driver.kv, path, b"", 0).value, path


def test_grpc_stub_reaches_the_generated_service(channel: grpc.Channel) -> None:
    stub = QueryStub(channel)
    assert stub.Sequencer(query_pb.QuerySequencerRequest(id=2), timeout=10).sequencer.id == 2
    assert len(stub.Sequencers(query_pb.QuerySequencersRequest(), timeout=10).sequencers) == 2


@pytest.mark.parametrize(("call", "status", "code"), [
    (lambda s: s.Sequencer(query_pb.QuerySequencerRequest(id=77), timeout=10),
     grpc.StatusCode.NOT_FOUND, QueryNotFoundError.code),
    (lambda s: s.Account(query_pb.QueryAccountRequest(address=b"\x01"), timeout=10),
     grpc.StatusCode.INVALID_ARGUMENT, QueryBadRequestError.code),
    (lambda s: s.SequencerAt(query_pb.QuerySequencerAtRequest(l2_height=0), timeout=10),
     grpc.StatusCode.INVALID_ARGUMENT, QueryBadRequestError.code),
])
def test_grpc_errors_carry_status_and_seqset_code(channel: grpc.Channel, call: Any,
                                                 status: grpc.StatusCode, code: int) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(QueryStub(channel))
    assert info.value.code() == status
    assert (CODE_METADATA_KEY, str(code)) in tuple(info.value.trailing_metadata())


def test_l2_head_is_not_found_without_a_registered_l2() -> None:
    driver = make_driver([10 * ETH])
    assert chain.query(driver.kv, "/l2/head", b"", 0).code == QueryNotFoundError.code
