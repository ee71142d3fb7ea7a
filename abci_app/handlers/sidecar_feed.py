"""Our sidecar's latest answer, kept in memory so that ExtendVote does no I/O.

ExtendVote runs on the one event loop that serves all four ABCI connections,
under the app lock, so waiting there on the sidecar would stall CheckTx and
queries too. Instead a background thread asks the sidecar, every
`poll_interval_s`, right after each Commit and when a proposal arrives (so
events confirmed during a height reach that height's ExtendVote), for what
committed state needs:
the events after the last applied L1 nonce, the L2 headers after the attested
L2 height (none when no L2 is registered), and the randomness of the L1 block
the chain's seed request names; it swaps in the answer. ExtendVote reads that
snapshot; `build_extension` keeps only the contiguous, linked windows it needs,
so a stale snapshot means less attested, never anything wrong. The client
answers an empty Observation on any failure or timeout, so a dead or slow
sidecar leaves the snapshot empty.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from abci_app.l1.client import Observation, ObservedQuery
from abci_app.relay.params import RelayParams
from abci_app.relay.types import RelayView

log = logging.getLogger("seqset.sidecar.feed")

POLL_INTERVAL_S = 0.15


class ObservedClient(Protocol):
    """SidecarClient's shape: never raises, gives up at its deadline."""

    def observe(self, query: ObservedQuery, timeout_s: float) -> Observation: ...

    def close(self) -> None: ...


def compute_feed_query(view: RelayView, params: RelayParams) -> ObservedQuery:
    """What to ask the sidecar once `view` is committed.

    The block being voted on may apply up to one extension's worth of events
    (count and bytes) and of L2 headers before our windows start, so ask for
    two windows of each: after dropping those, a full extension remains.
    """
    l2_height = 0 if view.l2_head is None else view.l2_head[0]
    max_headers = 0 if view.l2_head is None else 2 * params.max_l2_headers_per_extension
    return ObservedQuery(after_nonce=view.last_applied_nonce,
                         max_events=2 * params.max_events_per_extension,
                         max_bytes=2 * params.max_extension_bytes,
                         after_l2_height=l2_height, max_l2_headers=max_headers,
                         randomness_l1_height=view.seed_request)


class SidecarFeed:
    """The snapshot ExtendVote reads, and the thread that refreshes it.

    Without `start()` nothing runs in the background: tests call `refresh()`.
    """

    def __init__(
        self, client: ObservedClient, timeout_s: float = 0.3,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        # Held only to swap references, never across I/O: readers never wait on the sidecar.
        self._lock = threading.Lock()
        self._observed = Observation()
        self._query: ObservedQuery | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def get_observed(self) -> Observation:
        """The sidecar's latest checked answer, possibly stale or empty."""
        with self._lock:
            return self._observed

    def note_committed(self, view: RelayView, params: RelayParams) -> None:
        """Points the next poll after committed `view`, and wakes the poller if it moved."""
        query = compute_feed_query(view, params)
        with self._lock:
            if query == self._query:
                return
            self._query = query
        self._wake.set()

    def wake(self) -> None:
        """Asks for a poll now: a proposal arrived, so ExtendVote for it is near."""
        self._wake.set()

    def refresh(self) -> None:
        """Asks the sidecar once (blocking up to `timeout_s`) and swaps in its answer."""
        with self._lock:
            query = self._query
        if query is None:
            return  # nothing committed yet: we don't know where to start
        observed = self.client.observe(query, self.timeout_s)
        with self._lock:
            self._observed = observed

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sidecar-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the poller (waiting out at most one sidecar call) and closes the client."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 5)
            if self._thread.is_alive():
                log.error("the sidecar poller did not stop; leaving it (daemon thread)")
            self._thread = None
        self.client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_interval_s)
            # Cleared before asking, so a Commit during the call triggers another poll.
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.refresh()
            except Exception:  # a bug: keep the node attesting what it can
                log.exception("sidecar poll failed")
