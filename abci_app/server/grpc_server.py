"""The ABCI gRPC transport: the same handler behind tendermint.abci.ABCI.

gRPC runs each call on a worker thread. CheckTx calls take one lock, every
other call another, so each connection's calls stay one at a time, as under the
socket transport, and the handler's own locking (SeqsetApp.handle) lets CheckTx
run beside FinalizeBlock.
"""

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from abci_app import pb
from abci_app.server.socket_server import Handler, parse_listen_address

log = logging.getLogger("seqset.abci.grpc")

# gRPC method name -> field of the Request/Response oneof.
METHOD_FIELDS: dict[str, str] = {
    "Echo": "echo",
    "Flush": "flush",
    "Info": "info",
    "CheckTx": "check_tx",
    "Query": "query",
    "Commit": "commit",
    "InitChain": "init_chain",
    "ListSnapshots": "list_snapshots",
    "OfferSnapshot": "offer_snapshot",
    "LoadSnapshotChunk": "load_snapshot_chunk",
    "ApplySnapshotChunk": "apply_snapshot_chunk",
    "PrepareProposal": "prepare_proposal",
    "ProcessProposal": "process_proposal",
    "ExtendVote": "extend_vote",
    "VerifyVoteExtension": "verify_vote_extension",
    "FinalizeBlock": "finalize_block",
}


def _make_method(
    handler: Handler, lock: threading.Lock, field: str
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def call(inner_request: Any, context: grpc.ServicerContext) -> Any:
        request = pb.abci.Request()
        getattr(request, field).CopyFrom(inner_request)
        with lock:
            response = handler(request)
        if response.WhichOneof("value") != field:
            detail = response.exception.error if response.HasField("exception") else "no answer"
            context.abort(grpc.StatusCode.INTERNAL, detail)
        return getattr(response, field)

    return call


def build_servicer(handler: Handler) -> pb.abci_grpc.ABCIServicer:
    lock, mempool_lock = threading.Lock(), threading.Lock()
    methods = {name: _make_method(handler, mempool_lock if field == "check_tx" else lock, field)
               for name, field in METHOD_FIELDS.items()}
    servicer_class = type("AbciServicer", (pb.abci_grpc.ABCIServicer,), {
        name: (lambda m: lambda self, req, ctx: m(req, ctx))(method)
        for name, method in methods.items()
    })
    servicer: pb.abci_grpc.ABCIServicer = servicer_class()
    return servicer


def start_grpc_server(handler: Handler, address: str, max_message_bytes: int) -> grpc.Server:
    kind, where = parse_listen_address(address)
    target = f"unix:{where}" if kind == "unix" else str(where)
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    pb.abci_grpc.add_ABCIServicer_to_server(build_servicer(handler), server)
    server.add_insecure_port(target)
    server.start()
    log.info("ABCI gRPC server listening on %s", address)
    return server
