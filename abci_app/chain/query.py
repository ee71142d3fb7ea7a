"""Queries over committed state: abci_query paths and the gRPC Query service.

Both answer with the query.proto response messages, built by the same get_*
functions. abci_query paths:
  /params  /sequencer/<id>  /sequencers  /validators  /schedule  /epoch
  /sequencer_at/<l2_height>  /withdrawals[/<sequencer_id>]  /slashes[/<sequencer_id>]
  /account/<0xaddr>  /l1/last_nonce  /l1/noops  /totals
QueryResult.key is the state key of the one record an answer comes from (so
the store can attach a Merkle proof), or b"" for answers built from many.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc

from abci_app.chain import keys
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import query_grpc, state
from abci_app.chain.params import compute_params_proto
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule, get_sequencer_at
from abci_app.chain.state import (
    get_account_nonce,
    get_chain_state,
    get_params,
    get_record,
    get_records,
    get_sequencer,
    get_sequencers,
)
from abci_app.chain.types import QueryResult
from abci_app.chain.validators import get_validator_set
from abci_app.chain.withdrawals import get_withdrawals
from abci_app.errors import AppError, QueryBadRequestError, QueryNotFoundError
from abci_app.store.kv import KVStore

Answer = tuple[Any, bytes]  # (response message, key to prove or b"")


def _parse_uint(text: str, field: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise QueryBadRequestError(f"{field}: {text!r} is not an unsigned integer")
    value = int(text)
    if value >= 2**64:
        raise QueryBadRequestError(f"{field}: {value} exceeds uint64")
    return value


def _parse_address(text: str) -> bytes:
    if len(text) != 42 or not text.startswith("0x"):
        raise QueryBadRequestError(f"address: {text!r} is not a 0x-prefixed 20-byte address")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise QueryBadRequestError(f"address: {text!r} is not hex") from None


def get_params_answer(kv: KVStore) -> Answer:
    return query_pb.QueryParamsResponse(params=compute_params_proto(get_params(kv))), keys.PARAMS


def get_sequencer_answer(kv: KVStore, sequencer_id: int) -> Answer:
    seq = get_sequencer(kv, sequencer_id)
    if seq is None:
        raise QueryNotFoundError(f"sequencer {sequencer_id} not found")
    return query_pb.QuerySequencerResponse(sequencer=seq), keys.sequencer_key(sequencer_id)


def get_sequencers_answer(kv: KVStore) -> Answer:
    return query_pb.QuerySequencersResponse(sequencers=get_sequencers(kv)), b""


def get_validators_answer(kv: KVStore) -> Answer:
    """The set that signs the next block."""
    height = int(get_chain_state(kv).last_height) + 1
    validators = [
        state.Validator(address=e.address, pub_key=e.pub_key, power=e.power,
                        sequencer_id=e.sequencer_id)
        for e in get_validator_set(kv, height)
    ]
    return query_pb.QueryValidatorsResponse(height=height, validators=validators), b""


def get_schedule_answer(kv: KVStore) -> Answer:
    epoch = int(get_chain_state(kv).current_epoch)
    current = get_epoch_schedule(kv, epoch) or state.EpochSchedule()
    following = get_epoch_schedule(kv, epoch + 1) or state.EpochSchedule()
    return query_pb.QueryScheduleResponse(current=current, next=following), b""


def get_epoch_answer(kv: KVStore) -> Answer:
    chain = get_chain_state(kv)
    schedule = get_epoch_schedule(kv, chain.current_epoch) or state.EpochSchedule()
    return query_pb.QueryEpochResponse(
        epoch=chain.current_epoch, first_l2_height=schedule.first_l2_height,
        last_l2_height=schedule.last_l2_height, producer_id=get_current_producer(schedule),
        last_l2_height_reported=chain.last_l2_height,
        last_progress_time_ns=chain.last_progress_time_ns,
    ), b""


def get_sequencer_at_answer(kv: KVStore, l2_height: int) -> Answer:
    epoch, sequencer_id = get_sequencer_at(kv, l2_height)
    return query_pb.QuerySequencerAtResponse(
        l2_height=l2_height, epoch=epoch, sequencer_id=sequencer_id), keys.epoch_key(epoch)


def get_withdrawals_answer(kv: KVStore, sequencer_id: int = 0) -> Answer:
    return query_pb.QueryWithdrawalsResponse(withdrawals=get_withdrawals(kv, sequencer_id)), b""


def get_slashes_answer(kv: KVStore, sequencer_id: int = 0) -> Answer:
    records = get_records(kv, keys.SLASH_PREFIX, state.SlashRecord)
    chosen = [r for r in records if sequencer_id == 0 or r.sequencer_id == sequencer_id]
    return query_pb.QuerySlashesResponse(slashes=chosen), b""


def get_account_answer(kv: KVStore, address: bytes) -> Answer:
    account = state.Account(address=address, nonce=get_account_nonce(kv, address))
    return query_pb.QueryAccountResponse(account=account), keys.account_key(address)


def get_l1_last_nonce_answer(kv: KVStore) -> Answer:
    nonce = get_chain_state(kv).last_l1_nonce
    return query_pb.QueryL1LastNonceResponse(nonce=nonce), keys.CHAIN_STATE


def get_l1_noops_answer(kv: KVStore) -> Answer:
    return query_pb.QueryL1NoopsResponse(
        noops=get_records(kv, keys.L1_NOOP_PREFIX, state.L1Noop)), b""


def get_totals_answer(kv: KVStore) -> Answer:
    totals = get_record(kv, keys.TOTALS, state.Totals) or state.Totals()
    return query_pb.QueryTotalsResponse(totals=totals), keys.TOTALS


def _route(kv: KVStore, parts: list[str]) -> Answer:
    if parts[0] == "l1" and len(parts) >= 2:
        head, args = "l1/" + parts[1], parts[2:]
    else:
        head, args = parts[0], parts[1:]
    no_arg: dict[str, Callable[[KVStore], Answer]] = {
        "params": get_params_answer, "sequencers": get_sequencers_answer,
        "validators": get_validators_answer, "schedule": get_schedule_answer,
        "epoch": get_epoch_answer, "l1/last_nonce": get_l1_last_nonce_answer,
        "l1/noops": get_l1_noops_answer, "totals": get_totals_answer,
    }
    if head in no_arg and not args:
        return no_arg[head](kv)
    if head in ("withdrawals", "slashes") and len(args) <= 1:
        sequencer_id = _parse_uint(args[0], "sequencer_id") if args else 0
        if head == "withdrawals":
            return get_withdrawals_answer(kv, sequencer_id)
        return get_slashes_answer(kv, sequencer_id)
    if len(args) == 1 and head == "sequencer":
        return get_sequencer_answer(kv, _parse_uint(args[0], "id"))
    if len(args) == 1 and head == "sequencer_at":
        return get_sequencer_at_answer(kv, _parse_uint(args[0], "l2_height"))
    if len(args) == 1 and head == "account":
        return get_account_answer(kv, _parse_address(args[0]))
    raise QueryBadRequestError(f"unknown query path /{'/'.join(parts)}")


def query(kv: KVStore, path: str, data: bytes, height: int) -> QueryResult:
    """abci_query over `kv` (the caller picks the state at `height`). Never raises."""
    parts = [p for p in path.strip().split("/") if p]
    try:
        if not parts:
            raise QueryBadRequestError("empty query path")
        message, key = _route(kv, parts)
    except AppError as exc:
        return QueryResult(exc.code, b"", b"", exc.message)
    return QueryResult(0, key, bytes(message.SerializeToString(deterministic=True)), "")


_GRPC_STATUS = {QueryNotFoundError.code: grpc.StatusCode.NOT_FOUND,
                QueryBadRequestError.code: grpc.StatusCode.INVALID_ARGUMENT}


class QueryServicer(query_grpc.QueryServicer):  # type: ignore[misc]
    """seqset.v1.Query over a committed-state view returned by get_kv()."""

    def __init__(self, get_kv: Callable[[], KVStore],
                 lock: AbstractContextManager[Any] | None = None) -> None:
        self._get_kv = get_kv
        self._lock = lock if lock is not None else nullcontext()

    def _answer(self, context: Any, build: Callable[[KVStore], Answer]) -> Any:
        try:
            # One answer reads one height: commits wait while it is built.
            with self._lock:
                return build(self._get_kv())[0]
        except AppError as exc:
            context.abort(_GRPC_STATUS.get(exc.code, grpc.StatusCode.FAILED_PRECONDITION),
                          exc.message)
            raise  # abort raises; this keeps type checkers and readers certain

    def Params(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC names)
        return self._answer(context, get_params_answer)

    def Sequencer(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, lambda kv: get_sequencer_answer(kv, request.id))

    def Sequencers(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_sequencers_answer)

    def Validators(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_validators_answer)

    def Schedule(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_schedule_answer)

    def Epoch(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_epoch_answer)

    def SequencerAt(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, lambda kv: get_sequencer_at_answer(kv, request.l2_height))

    def Withdrawals(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, lambda kv: get_withdrawals_answer(kv, request.sequencer_id))

    def Slashes(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, lambda kv: get_slashes_answer(kv, request.sequencer_id))

    def Account(self, request: Any, context: Any) -> Any:  # noqa: N802
        if len(request.address) != 20:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "address: expected 20 bytes")
        return self._answer(context, lambda kv: get_account_answer(kv, bytes(request.address)))

    def L1LastNonce(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_l1_last_nonce_answer)

    def L1Noops(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_l1_noops_answer)

    def Totals(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._answer(context, get_totals_answer)


def add_query_servicer(server: Any, get_kv: Callable[[], KVStore],
                       lock: AbstractContextManager[Any] | None = None) -> None:
    """Register the Query service on a grpc.Server; `lock` is held while an answer is built."""
    query_grpc.add_QueryServicer_to_server(QueryServicer(get_kv, lock), server)


# The response message of each abci_query path, by its first segment(s).
RESPONSE_TYPES: dict[str, Any] = {
    "params": query_pb.QueryParamsResponse, "sequencer": query_pb.QuerySequencerResponse,
    "sequencers": query_pb.QuerySequencersResponse,
    "validators": query_pb.QueryValidatorsResponse,
    "schedule": query_pb.QueryScheduleResponse, "epoch": query_pb.QueryEpochResponse,
    "sequencer_at": query_pb.QuerySequencerAtResponse,
    "withdrawals": query_pb.QueryWithdrawalsResponse,
    "slashes": query_pb.QuerySlashesResponse, "account": query_pb.QueryAccountResponse,
    "l1/last_nonce": query_pb.QueryL1LastNonceResponse,
    "l1/noops": query_pb.QueryL1NoopsResponse, "totals": query_pb.QueryTotalsResponse,
}


def decode_query_value(path: str, value: bytes) -> Any:
    """The query.proto message that `path` answers with, parsed from its value bytes."""
    parts = [p for p in path.strip().split("/") if p]
    head = "/".join(parts[:2]) if parts[:1] == ["l1"] else (parts[0] if parts else "")
    message_type = RESPONSE_TYPES.get(head)
    if message_type is None:
        raise QueryBadRequestError(f"unknown query path {path!r}")
    return message_type.FromString(value)
