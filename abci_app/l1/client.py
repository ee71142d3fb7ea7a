"""The app's side of the sidecar: `SidecarClient.observe`, called by the poller
thread of handlers/sidecar_feed.py (never by ExtendVote, which reads its snapshot).

It never raises and never waits past its deadline: a dead, slow or lying
sidecar yields an empty Observation (the snapshot empties, so ExtendVote sends
an empty extension), logged at most once per `log_interval_s` so a long outage
does not flood the node's log.
Whatever it returns has been checked: events contiguous from after_nonce + 1,
within both bounds, each of a known kind; L2 headers contiguous from
after_l2_height + 1, linked, within their bound; randomness for the height
asked, well-formed. `observed` is the events-only form kept for tools and tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from abci_app import pb
from abci_app.l1.service import compute_grpc_target
from abci_app.relay.l2_checks import is_linked_run, is_well_formed_randomness

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


@dataclass(frozen=True, slots=True)
class ObservedQuery:
    """One ObservedRequest: max_l2_headers 0 asks for no headers, randomness_l1_height 0
    for no randomness."""

    after_nonce: int
    max_events: int
    max_bytes: int
    after_l2_height: int = 0
    max_l2_headers: int = 0
    randomness_l1_height: int = 0


@dataclass(frozen=True, slots=True)
class Observation:
    """The sidecar's checked answer; the empty value on any failure."""

    events: tuple[pb.events.L1Event, ...] = ()
    l2_headers: tuple[pb.l2.L2Header, ...] = ()
    randomness: pb.l2.L1Randomness | None = None
    confirmed_l1_height: int = 0


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


def validate_l2_headers(
    headers: Sequence[pb.l2.L2Header], after_l2_height: int, max_l2_headers: int
) -> None:
    """Raises InvalidSidecarAnswerError unless the headers answer the request."""
    if len(headers) > max_l2_headers:
        raise InvalidSidecarAnswerError(f"{len(headers)} L2 headers, asked for at most "
                                        f"{max_l2_headers}")
    if headers and int(headers[0].height) != after_l2_height + 1:
        raise InvalidSidecarAnswerError(f"first L2 header at height {headers[0].height}, "
                                        f"want {after_l2_height + 1}")
    if not is_linked_run(headers):
        raise InvalidSidecarAnswerError("L2 headers malformed, not contiguous or not linked")


def validate_randomness(randomness: pb.l2.L1Randomness | None, l1_height: int) -> None:
    if randomness is None:
        return
    if l1_height == 0 or int(randomness.l1_height) != l1_height:
        raise InvalidSidecarAnswerError(f"randomness for L1 height {randomness.l1_height}, "
                                        f"asked for {l1_height}")
    if not is_well_formed_randomness(randomness):
        raise InvalidSidecarAnswerError("randomness malformed")


def compute_observation(response: Any, query: ObservedQuery) -> Observation:
    """The checked Observation in `response`, or InvalidSidecarAnswerError."""
    events = list(response.events)
    validate_observed(events, query.after_nonce, query.max_events, query.max_bytes)
    headers = list(response.l2_headers)
    validate_l2_headers(headers, query.after_l2_height, query.max_l2_headers)
    randomness = response.randomness if response.HasField("randomness") else None
    validate_randomness(randomness, query.randomness_l1_height)
    return Observation(events=tuple(events), l2_headers=tuple(headers), randomness=randomness,
                       confirmed_l1_height=int(response.confirmed_l1_height))


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

    def observe(self, query: ObservedQuery, timeout_s: float) -> Observation:
        """The sidecar's checked answer to `query`; the empty Observation on any error."""
        try:
            call = self._get_channel().unary_unary(
                OBSERVED_METHOD,
                request_serializer=sidecar_pb.ObservedRequest.SerializeToString,
                response_deserializer=sidecar_pb.ObservedResponse.FromString,
            )
            request = sidecar_pb.ObservedRequest(
                after_nonce=query.after_nonce, max_events=query.max_events,
                max_bytes=query.max_bytes, after_l2_height=query.after_l2_height,
                max_l2_headers=query.max_l2_headers,
                randomness_l1_height=query.randomness_l1_height)
            return compute_observation(call(request, timeout=timeout_s), query)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            self._report(f"sidecar {self.address} unavailable ({code}): {_details(exc)}")
        except Exception as exc:  # noqa: BLE001 - garbage, a bad address, anything: never raise
            self._report(f"sidecar {self.address} answered badly: {type(exc).__name__}: {exc}")
        return Observation()

    def observed(
        self, after_nonce: int, max_events: int, max_bytes: int, timeout_s: float
    ) -> list[pb.events.L1Event]:
        """Confirmed events with nonce > after_nonce; [] on any error."""
        query = ObservedQuery(after_nonce=after_nonce, max_events=max_events, max_bytes=max_bytes)
        return list(self.observe(query, timeout_s).events)

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
        log.warning("%s; attesting nothing%s", message, extra)


def _details(exc: grpc.RpcError) -> str:
    return str(exc.details()) if isinstance(exc, grpc.Call) else str(exc)
