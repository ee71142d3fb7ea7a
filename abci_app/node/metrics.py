"""Prometheus text metrics on a small HTTP endpoint, read from the app's counters."""

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from abci_app.server.socket_server import parse_listen_address

if TYPE_CHECKING:
    from abci_app.handlers.app import SeqsetApp

log = logging.getLogger("seqset.metrics")


def render_metrics(app: "SeqsetApp") -> str:
    stats = app.stats
    lines = [
        "# HELP seqset_height Last committed height.",
        "# TYPE seqset_height gauge",
        f"seqset_height {app.store.last_height}",
    ]
    for name, help_text in (
        ("blocks_finalized_total", "Blocks finalized since start."),
        ("txs_ok_total", "Transactions executed with code 0."),
        ("txs_failed_total", "Transactions executed with a non-zero code."),
        ("checktx_rejected_total", "Transactions CheckTx rejected."),
        ("l1_events_applied_total", "Attested L1 events applied."),
        ("proposals_rejected_total", "Proposals this node rejected."),
        ("vote_extensions_rejected_total", "Vote extensions this node rejected."),
        ("finalize_seconds_total", "Time spent in FinalizeBlock."),
    ):
        kind = "counter"
        lines += [f"# HELP seqset_{name} {help_text}", f"# TYPE seqset_{name} {kind}",
                  f"seqset_{name} {stats.get(name, 0)}"]
    return "\n".join(lines) + "\n"


class MetricsServer:
    def __init__(self, address: str, app: "SeqsetApp") -> None:
        kind, where = parse_listen_address(address)
        if kind != "tcp":
            raise ValueError(f"metrics need a tcp:// address, got {address!r}")
        host, port = str(where).rsplit(":", 1)
        outer_app = app

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = render_metrics(outer_app).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((host, int(port)), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", *self._server.server_address[:2])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
