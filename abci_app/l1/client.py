"""The app's side of the sidecar: `SidecarClient.observed`, called by the poller
thread of handlers/sidecar_feed.py (never by ExtendVote, which reads its snapshot).

It never raises and never waits past its deadline: a dead, slow or lying
sidecar yields [] (the snapshot empties, so ExtendVote sends an empty
extension), logged at most once per `log_interval_s` so a long outage does
not flood the node's log.
Whatever it returns has been checked: contiguous from after_nonce + 1, within
both bounds, each event of a known kind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import grpc

from abci_app import pb
from abci_app.l1.service import compute_grpc_target

log = logging.getLogger("seqset.sidecar.client")

sidecar_pb: Any = pb.sidecar

OBSERVED_METHOD = "/seqset.v1.Sidecar/Observed"
STATUS_METHOD = "/seqset.v1.Sidecar/Status"
# Reconnect quickly after the sidecar restarts (gRPC's default backoff grows to 120 s).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
]


class InvalidSidecarAnswerError(Exception):
    """The sidecar answered, but not with what was asked for."""


def validate_observed(
    events: Sequence[pb.events.L1Event], after_nonce: int, max_events: int, max_bytes: int
) -> None:
    """Raises InvalidSidecarAnswerError unless the events are a valid answer to the request."""
    if max_events > 0 and len(events) > max_events:
        raise InvalidSidecarAnswerError(f"{len(events)} events, asked for at most {max_events}")
    size = sum(e.ByteSize() for e in events)
    if max_bytes > 0 and size > max_bytes:
        raise InvalidSidecarAnswerError(f"{size} bytes of events, asked for at most {max_bytes}")
    for index, event in enumerate(events):
        if event.nonce != after_nonce + 1 + index:
            raise InvalidSidecarAnswerError(
                f"event #{index} has nonce {event.nonce}, want {after_nonce + 1 + index}")
        if event.WhichOneof("kind") is None:
            raise InvalidSidecarAnswerError(f"event nonce {event.nonce} has no kind")


class SidecarClient:
    def __init__(self, address: str, log_interval_s: float = 5.0) -> None:
        self.address = address
        self.log_interval_s = log_interval_s
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._last_log = -float("inf")
        self.suppressed = 0  # failures not logged since the last logged one

    def _get_channel(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                target = compute_grpc_target(self.address)
                self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
            return self._channel

    def observed(
        self, after_nonce: int, max_events: int, max_bytes: int, timeout_s: float
    ) -> list[pb.events.L1Event]:
        """Confirmed events with nonce > after_nonce; [] on any error."""
        try:
            call = self._get_channel().unary_unary(
                OBSERVED_METHOD,
                request_serializer=sidecar_pb.ObservedRequest.SerializeToString,
                response_deserializer=sidecar_pb.ObservedResponse.FromString,
            )
            request = sidecar_pb.ObservedRequest(
                after_nonce=after_nonce, max_events=max_events, max_bytes=max_bytes)
            response = call(request, timeout=timeout_s)
            events = list(response.events)
            validate_observed(events, after_nonce, max_events, max_bytes)
            return events
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            self._report(f"sidecar {self.address} unavailable ({code}): {_details(exc)}")
        except Exception as exc:  # noqa: BLE001 - garbage, a bad address, anything: never raise
            self._report(f"sidecar {self.address} answered badly: {type(exc).__name__}: {exc}")
        return []

    def status(self, timeout_s: float) -> Any | None:
        """The sidecar's StatusResponse, or None on any error (for operators and tests)."""
        try:
            call = self._get_channel().unary_unary(
                STATUS_METHOD,
                request_serializer=sidecar_pb.StatusRequest.SerializeToString,
                response_deserializer=sidecar_pb.StatusResponse.FromString,
            )
            return call(sidecar_pb.StatusRequest(), timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - same policy as observed
            self._report(f"sidecar {self.address} status failed: {type(exc).__name__}: {exc}")
            return None

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

    def _report(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_log < self.log_interval_s:
                self.suppressed += 1
                return
            suppressed, self.suppressed, self._last_log = self.suppressed, 0, now
        extra = f" ({suppressed} similar failures not logged)" if suppressed else ""
        log.warning("%s; attesting no L1 events%s", message, extra)


def _details(exc: grpc.RpcError) -> str:
    return str(exc.details()) if isinstance(exc, grpc.Call) else str(exc)
