"""The seqset.v1.Query gRPC service, generated from chain.query's table of routes.

Each rpc parses its request, builds the answer with the route's handler under
`lock` (so an answer never straddles a Commit) and returns the response
message. An AppError aborts the call with a gRPC status and the seqset code in
the trailing metadata key `seqset-code`; a bug aborts with INTERNAL and the
InternalError code, logged with its traceback.
"""

# ruff: noqa: I001  (abci_app.pb must come first: it puts the generated code on sys.path)

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc
from google.protobuf.message import Message

from abci_app import pb  # noqa: F401  (side effect: _gen on sys.path)
from abci_app.chain.messages import query as query_pb
from abci_app.chain.query import QUERY_ROUTES, QueryRoute
from abci_app.errors import AppError, InternalError, QueryBadRequestError, QueryNotFoundError
from abci_app.store.kv import KVStore
from seqset.v1.query_pb2_grpc import QueryStub  # noqa: E402  (re-exported for clients)

log = logging.getLogger("seqset.query")

SERVICE_NAME = query_pb.DESCRIPTOR.services_by_name["Query"].full_name
CODE_METADATA_KEY = "seqset-code"

# By class, most specific first; any other AppError is FAILED_PRECONDITION.
_STATUS_BY_ERROR: tuple[tuple[type[AppError], grpc.StatusCode], ...] = (
    (QueryNotFoundError, grpc.StatusCode.NOT_FOUND),
    (QueryBadRequestError, grpc.StatusCode.INVALID_ARGUMENT),
)


def compute_status(exc: AppError) -> grpc.StatusCode:
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return grpc.StatusCode.FAILED_PRECONDITION


def _build_method(route: QueryRoute, get_kv: Callable[[], KVStore],
                  lock: AbstractContextManager[Any]) -> Callable[[Message, Any], Message]:
    def answer(request: Message, context: Any) -> Message:
        try:
            with lock:
                return route.handler(get_kv(), request)[0]
        except AppError as exc:
            _abort(context, compute_status(exc), exc.code, exc.message)
        except Exception as exc:  # a bug: answer it, log it, keep serving
            log.exception("bug in Query/%s", route.rpc)
            _abort(context, grpc.StatusCode.INTERNAL, InternalError.code,
                   f"internal error: {exc!r}")
        raise AssertionError("context.abort returned")  # abort always raises

    return answer


def _abort(context: Any, status: grpc.StatusCode, code: int, message: str) -> None:
    context.set_trailing_metadata(((CODE_METADATA_KEY, str(code)),))
    context.abort(status, message)


def _serialize(message: Message) -> bytes:
    return bytes(message.SerializeToString(deterministic=True))


def build_query_service(get_kv: Callable[[], KVStore],
                        lock: AbstractContextManager[Any] | None = None) -> Any:
    """A grpc.GenericRpcHandler answering every route of QUERY_ROUTES."""
    held = lock if lock is not None else nullcontext()
    methods = {
        route.rpc: grpc.unary_unary_rpc_method_handler(
            _build_method(route, get_kv, held),
            request_deserializer=route.request_type.FromString,
            response_serializer=_serialize)
        for route in QUERY_ROUTES
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, methods)


def add_query_service(server: Any, get_kv: Callable[[], KVStore],
                      lock: AbstractContextManager[Any] | None = None) -> None:
    """Register seqset.v1.Query on a grpc.Server; `lock` is held while an answer is built."""
    server.add_generic_rpc_handlers((build_query_service(get_kv, lock),))


__all__ = ["CODE_METADATA_KEY", "QueryStub", "add_query_service", "build_query_service"]
