"""Queries over committed state: one table of paths, read by abci_query and gRPC.

QUERY_ROUTES is the only list of query paths. Each route names its abci_query
path, the seqset.v1.Query rpc that answers the same, the request and response
messages of proto/seqset/v1/query.proto, the path arguments that fill request
fields, and the get_*_answer function that builds the response. `query` (the
abci_query router), `decode_query_value` and the gRPC service
(abci_app/handlers/query_service.py) are all built from it.

abci_query takes the rpc's request message in `data` (empty: all defaults);
path arguments such as /sequencer/<id> fill its fields. QueryResult.key is the
state key of the one record an answer comes from (so the store can attach a
Merkle proof), or b"" for answers built from many.

Lists that grow with the chain (withdrawals, slashes, L1 no-ops) are paged: a
page reads at most `limit` records from `cursor`, so its cost does not grow
with the list.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message

from abci_app.chain import keys
from abci_app.chain.l2 import get_l2_head
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.params import compute_params_proto
from abci_app.chain.schedule import (
    NO_PRODUCER,
    compute_epoch_of,
    compute_producer_at,
    get_current_producer,
    get_epoch_schedule,
    get_sequencer_at,
)
from abci_app.chain.settlement import (
    get_in_flight_batch,
    get_settlement_batch,
    get_settlement_progress,
)
from abci_app.chain.state import (
    get_account_nonce,
    get_chain_state,
    get_params,
    get_record,
    get_sequencer,
    get_sequencers,
)
from abci_app.chain.types import QueryResult
from abci_app.chain.validators import get_validator_set
from abci_app.errors import (
    AppError,
    QueryBadCursorError,
    QueryBadRequestError,
    QueryNotFoundError,
)
from abci_app.store.kv import KVStore

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
CURSOR_BYTES = 8  # a cursor is the big-endian id that keys the next page's first record
ADDRESS_BYTES = 20

Answer = tuple[Message, bytes]  # (response message, key to prove or b"")
R = TypeVar("R", bound=Message)


# --- path arguments --------------------------------------------------------------------


def parse_uint(text: str, field: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise QueryBadRequestError(f"{field}: {text!r} is not an unsigned integer")
    value = int(text)
    if value >= 2**64:
        raise QueryBadRequestError(f"{field}: {value} exceeds uint64")
    return value


def parse_address(text: str, field: str) -> bytes:
    if len(text) != 2 + 2 * ADDRESS_BYTES or not text.startswith("0x"):
        raise QueryBadRequestError(f"{field}: {text!r} is not a 0x-prefixed 20-byte address")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise QueryBadRequestError(f"{field}: {text!r} is not hex") from None


# --- pages ---------------------------------------------------------------------------------


def compute_page_limit(limit: int) -> int:
    """0 asks for the default page; more than the maximum gets the maximum."""
    return DEFAULT_PAGE_LIMIT if limit == 0 else min(limit, MAX_PAGE_LIMIT)


def get_page(
    kv: KVStore, prefix: bytes, cls: type[R], limit: int, cursor: bytes,
    keep: Callable[[R], bool] = lambda _: True,
) -> tuple[list[R], bytes]:
    """The kept records among the next `limit` under `prefix` from `cursor`, and the
    cursor of the page after (b"" at the end). Reads at most limit + 1 entries."""
    # Verify the cursor is one a page handed out: an 8-byte key suffix
    if cursor and len(cursor) != CURSOR_BYTES:
        raise QueryBadCursorError(
            f"cursor: {len(cursor)} bytes, expected {CURSOR_BYTES} (pass back next_cursor)")
    records: list[R] = []
    for count, (key, raw) in enumerate(kv.iterate(prefix, prefix + cursor)):
        if count == compute_page_limit(limit):
            return records, key[len(prefix):]
        record = cls.FromString(raw)
        if keep(record):
            records.append(record)
    return records, b""


# --- answers, one per route ---------------------------------------------------------------


def get_params_answer(kv: KVStore, request: query_pb.QueryParamsRequest) -> Answer:
    return query_pb.QueryParamsResponse(params=compute_params_proto(get_params(kv))), keys.PARAMS


def get_sequencer_answer(kv: KVStore, request: query_pb.QuerySequencerRequest) -> Answer:
    seq = get_sequencer(kv, request.id)
    if seq is None:
        raise QueryNotFoundError(f"sequencer {request.id} not found")
    return query_pb.QuerySequencerResponse(sequencer=seq), keys.sequencer_key(request.id)


def get_sequencers_answer(kv: KVStore, request: query_pb.QuerySequencersRequest) -> Answer:
    return query_pb.QuerySequencersResponse(sequencers=get_sequencers(kv)), b""


def get_validators_answer(kv: KVStore, request: query_pb.QueryValidatorsRequest) -> Answer:
    """The set that signs the next block."""
    height = int(get_chain_state(kv).last_height) + 1
    validators = [
        state.Validator(address=e.address, pub_key=e.pub_key, power=e.power,
                        sequencer_id=e.sequencer_id)
        for e in get_validator_set(kv, height)
    ]
    return query_pb.QueryValidatorsResponse(height=height, validators=validators), b""


def get_schedule_answer(kv: KVStore, request: query_pb.QueryScheduleRequest) -> Answer:
    epoch = int(get_chain_state(kv).current_epoch)
    current = get_epoch_schedule(kv, epoch) or state.EpochSchedule()
    following = get_epoch_schedule(kv, epoch + 1) or state.EpochSchedule()
    return query_pb.QueryScheduleResponse(current=current, next=following), b""


def get_epoch_answer(kv: KVStore, request: query_pb.QueryEpochRequest) -> Answer:
    chain = get_chain_state(kv)
    schedule = get_epoch_schedule(kv, chain.current_epoch) or state.EpochSchedule()
    return query_pb.QueryEpochResponse(
        epoch=chain.current_epoch, first_l2_height=schedule.first_l2_height,
        last_l2_height=schedule.last_l2_height, producer_id=get_current_producer(schedule),
        last_l2_height_reported=chain.last_l2_height,
        last_progress_time_ns=chain.last_progress_time_ns,
    ), b""


def get_sequencer_at_answer(kv: KVStore, request: query_pb.QuerySequencerAtRequest) -> Answer:
    epoch, sequencer_id = get_sequencer_at(kv, request.l2_height)
    return query_pb.QuerySequencerAtResponse(
        l2_height=request.l2_height, epoch=epoch, sequencer_id=sequencer_id,
    ), keys.epoch_key(epoch)


def get_withdrawals_answer(kv: KVStore, request: query_pb.QueryWithdrawalsRequest) -> Answer:
    """Queued withdrawals in id (= request) order; sequencer_id 0 means all."""
    wanted = request.sequencer_id
    withdrawals, next_cursor = get_page(
        kv, keys.WITHDRAWAL_PREFIX, state.PendingWithdrawal, request.limit, request.cursor,
        lambda w: wanted == 0 or w.sequencer_id == wanted)
    return query_pb.QueryWithdrawalsResponse(
        withdrawals=withdrawals, next_cursor=next_cursor), b""


def get_slashes_answer(kv: KVStore, request: query_pb.QuerySlashesRequest) -> Answer:
    """Slash records in id order; sequencer_id 0 means all."""
    wanted = request.sequencer_id
    slashes, next_cursor = get_page(
        kv, keys.SLASH_PREFIX, state.SlashRecord, request.limit, request.cursor,
        lambda s: wanted == 0 or s.sequencer_id == wanted)
    return query_pb.QuerySlashesResponse(slashes=slashes, next_cursor=next_cursor), b""


def get_account_answer(kv: KVStore, request: query_pb.QueryAccountRequest) -> Answer:
    address = bytes(request.address)
    if len(address) != ADDRESS_BYTES:
        raise QueryBadRequestError(f"address: {len(address)} bytes, expected {ADDRESS_BYTES}")
    account = state.Account(address=address, nonce=get_account_nonce(kv, address))
    return query_pb.QueryAccountResponse(account=account), keys.account_key(address)


def get_l1_last_nonce_answer(kv: KVStore, request: query_pb.QueryL1LastNonceRequest) -> Answer:
    nonce = get_chain_state(kv).last_l1_nonce
    return query_pb.QueryL1LastNonceResponse(nonce=nonce), keys.CHAIN_STATE


def get_l1_noops_answer(kv: KVStore, request: query_pb.QueryL1NoopsRequest) -> Answer:
    """Attested L1 events recorded as no-ops, in nonce order."""
    noops, next_cursor = get_page(
        kv, keys.L1_NOOP_PREFIX, state.L1Noop, request.limit, request.cursor)
    return query_pb.QueryL1NoopsResponse(noops=noops, next_cursor=next_cursor), b""


def get_totals_answer(kv: KVStore, request: query_pb.QueryTotalsRequest) -> Answer:
    totals = get_record(kv, keys.TOTALS, state.Totals) or state.Totals()
    return query_pb.QueryTotalsResponse(totals=totals), keys.TOTALS


def get_scheduled_producer(kv: KVStore, l2_height: int, epoch_length: int) -> int:
    """The producer of `l2_height` if its epoch is seeded, else NO_PRODUCER."""
    schedule = get_epoch_schedule(kv, compute_epoch_of(l2_height, epoch_length))
    if schedule is None or not schedule.seed:
        return NO_PRODUCER
    return compute_producer_at(schedule, l2_height)


def get_l2_head_answer(kv: KVStore, request: query_pb.QueryL2HeadRequest) -> Answer:
    head = get_l2_head(kv)
    if head is None:
        raise QueryNotFoundError("no L2 is registered (params.l2_chain_id is 0)")
    params = get_params(kv)
    chain = get_chain_state(kv)
    schedule = get_epoch_schedule(kv, chain.current_epoch) or state.EpochSchedule()
    producer = get_current_producer(schedule)
    seq = get_sequencer(kv, producer) if producer != NO_PRODUCER else None
    return query_pb.QueryL2HeadResponse(
        height=head[0], hash=head[1], epoch=chain.current_epoch, producer_id=producer,
        producer_signer=bytes(seq.signer) if seq is not None else b"",
        next_producer_id=get_scheduled_producer(kv, head[0] + 1, params.epoch_length),
        next_epoch_producer_id=get_scheduled_producer(
            kv, schedule.last_l2_height + 1, params.epoch_length),
        last_progress_time_ns=chain.last_progress_time_ns, l2_chain_id=params.l2_chain_id,
    ), b""


# --- settlement (issue 14) -----------------------------------------------------------------


def _settlement_fields(kv: KVStore, batch: state.SettlementBatch) -> dict[str, Any]:
    progress = get_settlement_progress(kv, batch)
    return {"batch": batch, "complete": progress.complete,
            "signed_stake_wei": str(progress.signed_stake_wei),
            "total_stake_wei": str(progress.total_stake_wei)}


def get_settlement_pending_answer(
    kv: KVStore, request: query_pb.QuerySettlementPendingRequest
) -> Answer:
    batch = get_in_flight_batch(kv)
    if batch is None:
        raise QueryNotFoundError("no settlement batch is in flight")
    return query_pb.QuerySettlementPendingResponse(**_settlement_fields(kv, batch)), b""


def get_settlement_batch_answer(
    kv: KVStore, request: query_pb.QuerySettlementBatchRequest
) -> Answer:
    batch = get_settlement_batch(kv, request.nonce)
    if batch is None:
        raise QueryNotFoundError(f"no settlement batch {request.nonce}")
    return query_pb.QuerySettlementBatchResponse(**_settlement_fields(kv, batch)), b""


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathArg:
    """A path segment that fills request field `field`, parsed by `parse(text, field)`."""

    field: str
    parse: Callable[[str, str], int | bytes]
    optional: bool = False


@dataclass(frozen=True)
class QueryRoute:
    path: str  # abci_query path without arguments, e.g. "l1/noops"
    rpc: str  # the seqset.v1.Query method that answers the same
    request_type: type[Message]
    response_type: type[Message]
    # Any: each handler takes its own request type, which Callable cannot say per route.
    handler: Callable[[KVStore, Any], Answer]
    args: tuple[PathArg, ...] = ()

    @property
    def usage(self) -> str:
        segments = [f"[/<{a.field}>]" if a.optional else f"/<{a.field}>" for a in self.args]
        return "/" + self.path + "".join(segments)


_BY_SEQUENCER = (PathArg("sequencer_id", parse_uint, optional=True),)

QUERY_ROUTES: tuple[QueryRoute, ...] = (
    QueryRoute("params", "Params", query_pb.QueryParamsRequest,
               query_pb.QueryParamsResponse, get_params_answer),
    QueryRoute("sequencer", "Sequencer", query_pb.QuerySequencerRequest,
               query_pb.QuerySequencerResponse, get_sequencer_answer,
               (PathArg("id", parse_uint),)),
    QueryRoute("sequencers", "Sequencers", query_pb.QuerySequencersRequest,
               query_pb.QuerySequencersResponse, get_sequencers_answer),
    QueryRoute("validators", "Validators", query_pb.QueryValidatorsRequest,
               query_pb.QueryValidatorsResponse, get_validators_answer),
    QueryRoute("schedule", "Schedule", query_pb.QueryScheduleRequest,
               query_pb.QueryScheduleResponse, get_schedule_answer),
    QueryRoute("epoch", "Epoch", query_pb.QueryEpochRequest,
               query_pb.QueryEpochResponse, get_epoch_answer),
    QueryRoute("sequencer_at", "SequencerAt", query_pb.QuerySequencerAtRequest,
               query_pb.QuerySequencerAtResponse, get_sequencer_at_answer,
               (PathArg("l2_height", parse_uint),)),
    QueryRoute("withdrawals", "Withdrawals", query_pb.QueryWithdrawalsRequest,
               query_pb.QueryWithdrawalsResponse, get_withdrawals_answer, _BY_SEQUENCER),
    QueryRoute("slashes", "Slashes", query_pb.QuerySlashesRequest,
               query_pb.QuerySlashesResponse, get_slashes_answer, _BY_SEQUENCER),
    QueryRoute("account", "Account", query_pb.QueryAccountRequest,
               query_pb.QueryAccountResponse, get_account_answer,
               (PathArg("address", parse_address),)),
    QueryRoute("l1/last_nonce", "L1LastNonce", query_pb.QueryL1LastNonceRequest,
               query_pb.QueryL1LastNonceResponse, get_l1_last_nonce_answer),
    QueryRoute("l1/noops", "L1Noops", query_pb.QueryL1NoopsRequest,
               query_pb.QueryL1NoopsResponse, get_l1_noops_answer),
    QueryRoute("totals", "Totals", query_pb.QueryTotalsRequest,
               query_pb.QueryTotalsResponse, get_totals_answer),
    QueryRoute("l2/head", "L2Head", query_pb.QueryL2HeadRequest,
               query_pb.QueryL2HeadResponse, get_l2_head_answer),
    QueryRoute("settlement/pending", "SettlementPending",
               query_pb.QuerySettlementPendingRequest, query_pb.QuerySettlementPendingResponse,
               get_settlement_pending_answer),
    QueryRoute("settlement/batch", "SettlementBatch", query_pb.QuerySettlementBatchRequest,
               query_pb.QuerySettlementBatchResponse, get_settlement_batch_answer,
               (PathArg("nonce", parse_uint),)),
)

ROUTES_BY_PATH: dict[str, QueryRoute] = {r.path: r for r in QUERY_ROUTES}
_MAX_PATH_SEGMENTS = max(r.path.count("/") + 1 for r in QUERY_ROUTES)


# --- abci_query ---------------------------------------------------------------------------


def find_route(path: str) -> tuple[QueryRoute, list[str]]:
    """The route `path` names and its argument segments."""
    parts = [p for p in path.strip().split("/") if p]
    for n in range(min(len(parts), _MAX_PATH_SEGMENTS), 0, -1):
        route = ROUTES_BY_PATH.get("/".join(parts[:n]))
        if route is not None:
            return route, parts[n:]
    raise QueryBadRequestError(f"unknown query path {path!r}")


def compute_request(route: QueryRoute, args: list[str], data: bytes) -> Message:
    """The route's request message: `data` parsed, then the path arguments filled in."""
    if not sum(not a.optional for a in route.args) <= len(args) <= len(route.args):
        raise QueryBadRequestError(f"usage: {route.usage}")
    try:
        request = route.request_type.FromString(data)
    except DecodeError:
        raise QueryBadRequestError(
            f"data: not a {route.request_type.DESCRIPTOR.full_name}") from None
    for arg, text in zip(route.args, args, strict=False):
        value = arg.parse(text, arg.field)
        given = getattr(request, arg.field)
        # Verify the path and the data do not disagree about the same field
        if given and given != value:
            raise QueryBadRequestError(f"{arg.field}: path says {value!r}, data {given!r}")
        setattr(request, arg.field, value)
    return request


def query(kv: KVStore, path: str, data: bytes, height: int) -> QueryResult:
    """abci_query over `kv` (the caller picks the state at `height`). Never raises AppError."""
    try:
        route, args = find_route(path)
        message, key = route.handler(kv, compute_request(route, args, data))
    except AppError as exc:
        return QueryResult(exc.code, b"", b"", exc.message)
    return QueryResult(0, key, bytes(message.SerializeToString(deterministic=True)), "")


def decode_query_value(path: str, value: bytes) -> Message:
    """The query.proto message that `path` answers with, parsed from its value bytes."""
    route, _ = find_route(path)
    return route.response_type.FromString(value)
