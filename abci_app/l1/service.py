"""The sidecar's gRPC service `seqset.v1.Sidecar`: Observed and Status.

Handlers only read memory (the `ObservedLog`, the L2 follower's headers, the
randomness cache) and a status snapshot; they never touch L1 or L2, so an
answer takes microseconds whatever either node is doing. A randomness or L2
header not in memory yet is left out and fetched in the background.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from abci_app import pb
from abci_app.l1.view import ObservedLog, RandomnessCache
from abci_app.l2.follower import L2Follower

log = logging.getLogger("seqset.sidecar.service")

# Until pb exports `sidecar`, import it by name (pb has put _gen on sys.path).
sidecar_pb: Any = pb.sidecar

SERVICE_NAME = "seqset.v1.Sidecar"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class ListenError(Exception):
    """The sidecar cannot listen on the configured address."""


def compute_grpc_target(address: str) -> str:
    """A gRPC target from our address forms: unix:/p, unix:///p, tcp://h:p or h:p."""
    if address.startswith("tcp://"):
        return address[len("tcp://") :]
    if address.startswith("unix://") and not address.startswith("unix:///"):
        raise ListenError(f"unix address must be absolute: {address!r}")
    return address


def compute_unix_path(target: str) -> Path | None:
    if not target.startswith("unix:"):
        return None
    return Path(target[len("unix://") :] if target.startswith("unix://") else target[5:])


def build_observed_handler(
    view: ObservedLog, l2: L2Follower | None = None, randomness: RandomnessCache | None = None
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def observed(request: Any, context: grpc.ServicerContext) -> Any:
        batch = view.get_after(request.after_nonce, request.max_events, request.max_bytes)
        response = sidecar_pb.ObservedResponse(
            events=batch.events, confirmed_l1_height=batch.confirmed_height,
            last_observed_nonce=batch.last_nonce)  # fmt: skip
        if l2 is not None:
            response.l2_headers.extend(
                l2.get_headers_after(request.after_l2_height, request.max_l2_headers))
        if randomness is not None:
            found = randomness.get(request.randomness_l1_height, batch.confirmed_height)
            if found is not None:
                response.randomness.CopyFrom(found)
        return response

    return observed


def build_sidecar_handler(
    view: ObservedLog, get_status: Callable[[], Any], l2: L2Follower | None = None,
    randomness: RandomnessCache | None = None,
) -> grpc.GenericRpcHandler:
    methods = {
        "Observed": grpc.unary_unary_rpc_method_handler(
            build_observed_handler(view, l2, randomness),
            request_deserializer=sidecar_pb.ObservedRequest.FromString,
            response_serializer=sidecar_pb.ObservedResponse.SerializeToString,
        ),
        "Status": grpc.unary_unary_rpc_method_handler(
            lambda request, context: get_status(),
            request_deserializer=sidecar_pb.StatusRequest.FromString,
            response_serializer=sidecar_pb.StatusResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, methods)


def remove_stale_socket(path: Path) -> None:
    """A socket file left by a previous run would make the bind fail."""
    try:
        if stat.S_ISSOCK(path.stat().st_mode):
            path.unlink()
    except FileNotFoundError:
        return


def start_sidecar_server(
    address: str, view: ObservedLog, get_status: Callable[[], Any],
    l2: L2Follower | None = None, randomness: RandomnessCache | None = None,
) -> tuple[grpc.Server, str]:
    """Starts the service; returns it and the bound target (the real port for `h:0`)."""
    target = compute_grpc_target(address)
    unix_path = compute_unix_path(target)
    if unix_path is not None:
        unix_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_socket(unix_path)
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    server.add_generic_rpc_handlers(
        (build_sidecar_handler(view, get_status, l2, randomness),))
    try:
        port = server.add_insecure_port(target)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {address}: {exc}") from exc
    if unix_path is None and port == 0:
        raise ListenError(f"cannot listen on {address}")
    if unix_path is None:
        target = f"{target.rsplit(':', 1)[0]}:{port}"
    server.start()
    log.info("sidecar gRPC service listening on %s", target)
    return server, target
