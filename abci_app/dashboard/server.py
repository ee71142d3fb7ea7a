"""The dashboard's aiohttp server: the page at /, its sections as JSON at /api/overview.

Read-only: GET only, no state but a short cache of the last read, which keeps
many open pages from multiplying the node's load. NodeRpc blocks, so reads
run in a worker thread, one at a time (the recent-blocks cache is not shared
across threads).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from abci_app.client.rpc import ChainReadError
from abci_app.dashboard.overview import OverviewReader
from abci_app.dashboard.page import API_PATH, compute_csp, render_page
from abci_app.dashboard.render import render_sections

log = logging.getLogger("seqset.dashboard")

DEFAULT_REFRESH_MS = 3000
CACHE_S = 1.0
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass(frozen=True)
class Snapshot:
    """One read of the node, rendered: the sections, or why there are none."""

    sections: dict[str, str]
    height: int
    updated: str
    error: str
    read_at: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, object]:
        return {"ok": not self.error, "error": self.error, "height": self.height,
                "updated": self.updated, "sections": self.sections}


def read_snapshot(reader: OverviewReader) -> Snapshot:
    updated = datetime.now(tz=UTC).strftime("%H:%M:%S UTC")
    try:
        view = reader.read()
        return Snapshot(render_sections(view), view.node.height, updated, "", time.monotonic())
    except ChainReadError as exc:
        error = f"The node at {reader.rpc.url} is unreachable or answered badly: {exc}"
    except Exception as exc:  # noqa: BLE001 - a bug: say so on the page, keep serving
        log.exception("dashboard: reading the node failed")
        error = f"The dashboard failed to read the node: {type(exc).__name__}: {exc}"
    return Snapshot({}, 0, updated, error, time.monotonic())


class Dashboard:
    def __init__(self, reader: OverviewReader, refresh_ms: int = DEFAULT_REFRESH_MS) -> None:
        self.reader = reader
        self.refresh_ms = refresh_ms
        self._lock = asyncio.Lock()
        self._last: Snapshot | None = None
        self.page_headers = {**SECURITY_HEADERS, "Content-Security-Policy": compute_csp(
            refresh_ms)}

    async def get_snapshot(self) -> Snapshot:
        async with self._lock:
            last = self._last
            if last is None or time.monotonic() - last.read_at > CACHE_S:
                last = self._last = await asyncio.to_thread(read_snapshot, self.reader)
            return last

    async def page(self, request: web.Request) -> web.Response:
        snap = await self.get_snapshot()
        updated = f"last updated {snap.updated}" + (f" (height {snap.height})" if snap.height
                                                     else "")
        html = render_page(snap.sections, self.reader.rpc.url, updated, snap.error,
                           self.refresh_ms)
        return web.Response(text=html, content_type="text/html", headers=self.page_headers)

    async def overview(self, request: web.Request) -> web.Response:
        snap = await self.get_snapshot()
        return web.json_response(snap.to_json(), headers=SECURITY_HEADERS)


def build_app(dashboard: Dashboard) -> web.Application:
    app = web.Application()
    app.router.add_get("/", dashboard.page)
    app.router.add_get(API_PATH, dashboard.overview)
    return app
