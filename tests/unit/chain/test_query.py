"""abci_query paths and the gRPC Query service answer from the same functions."""

from concurrent import futures
from typing import Any

import grpc
import pytest

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import query_grpc
from abci_app.errors import QueryBadRequestError, QueryNotFoundError
from tests.unit.chain.helpers import (
    ETH,
    Driver,
    l1_event,
    make_driver,
    make_l2_progress_tx,
    signer_address,
)


@pytest.fixture
def driver() -> Driver:
    d = make_driver([10 * ETH, 20 * ETH])
    d.block(l1_events=[l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(ETH)),
                       l1_event(2, "lock_increased", sequencer_id=99, amount_wei="1")])
    return d


def _ask(driver: Driver, path: str, cls: type) -> tuple[Any, bytes]:
    result = chain.query(driver.kv, path, b"", driver.height)
    assert result.code == 0, result.log
    message = cls()
    message.ParseFromString(result.value)
    return message, result.key


def test_params_query_returns_proto_and_proof_key(driver: Driver) -> None:
    message, key = _ask(driver, "/params", query_pb.QueryParamsResponse)
    assert message.params.epoch_length == 10
    assert key == keys.PARAMS


def test_sequencer_query(driver: Driver) -> None:
    message, key = _ask(driver, "/sequencer/2", query_pb.QuerySequencerResponse)
    assert message.sequencer.locked_wei == str(20 * ETH)
    assert key == keys.sequencer_key(2)


@pytest.mark.parametrize(("path", "cls"), [
    ("/sequencers", query_pb.QuerySequencersResponse),
    ("/validators", query_pb.QueryValidatorsResponse),
    ("/schedule", query_pb.QueryScheduleResponse),
    ("/epoch", query_pb.QueryEpochResponse),
    ("/sequencer_at/3", query_pb.QuerySequencerAtResponse),
    ("/withdrawals", query_pb.QueryWithdrawalsResponse),
    ("/withdrawals/1", query_pb.QueryWithdrawalsResponse),
    ("/slashes", query_pb.QuerySlashesResponse),
    ("/l1/last_nonce", query_pb.QueryL1LastNonceResponse),
    ("/l1/noops", query_pb.QueryL1NoopsResponse),
    ("/totals", query_pb.QueryTotalsResponse),
])
def test_every_path_answers(driver: Driver, path: str, cls: type) -> None:
    _ask(driver, path, cls)


def test_withdrawals_and_noops_are_listed(driver: Driver) -> None:
    withdrawals, _ = _ask(driver, "/withdrawals/1", query_pb.QueryWithdrawalsResponse)
    assert len(withdrawals.withdrawals) == 1
    noops, _ = _ask(driver, "/l1/noops", query_pb.QueryL1NoopsResponse)
    assert [n.nonce for n in noops.noops] == [2]
    last, key = _ask(driver, "/l1/last_nonce", query_pb.QueryL1LastNonceResponse)
    assert (last.nonce, key) == (2, keys.CHAIN_STATE)


def test_account_query_reports_next_nonce(driver: Driver) -> None:
    epoch, _ = _ask(driver, "/epoch", query_pb.QueryEpochResponse)
    p = epoch.producer_id
    driver.block(txs=[make_l2_progress_tx(p, 0, p, 1)])
    account, key = _ask(driver, "/account/0x" + signer_address(p).hex(),
                        query_pb.QueryAccountResponse)
    assert account.account.nonce == 1
    assert key == keys.account_key(signer_address(p))


@pytest.mark.parametrize(("path", "code"), [
    ("/sequencer/77", QueryNotFoundError.code),
    ("/sequencer/x", QueryBadRequestError.code),
    ("/sequencer_at/0", QueryBadRequestError.code),
    ("/account/0x12", QueryBadRequestError.code),
    ("/account/0x" + "zz" * 20, QueryBadRequestError.code),
    ("/nothing", QueryBadRequestError.code),
    ("", QueryBadRequestError.code),
    ("/params/extra", QueryBadRequestError.code),
])
def test_invalid_query_returns_code_not_exception(driver: Driver, path: str, code: int) -> None:
    result = chain.query(driver.kv, path, b"", 0)
    assert (result.code, result.value) == (code, b"")


def test_grpc_service_answers_and_maps_not_found(driver: Driver) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    chain.add_query_servicer(server, lambda: driver.kv)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = query_grpc.QueryStub(channel)
            reply = stub.Sequencer(query_pb.QuerySequencerRequest(id=2), timeout=10)
            assert reply.sequencer.id == 2
            validators = stub.Validators(query_pb.QueryValidatorsRequest(), timeout=10)
            assert len(validators.validators) == 2
            assert stub.SequencerAt(query_pb.QuerySequencerAtRequest(l2_height=1),
                                    timeout=10).sequencer_id in (1, 2)
            with pytest.raises(grpc.RpcError) as info:
                stub.Sequencer(query_pb.QuerySequencerRequest(id=77), timeout=10)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop(grace=None)
