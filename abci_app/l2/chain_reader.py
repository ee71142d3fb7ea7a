"""What the sequencer agent reads from the chain, through its CometBFT node's RPC.

`CometChainReader` answers the agent's three questions with `abci_query`
(decoded by the chain's own query table): who produces an L2 height
(/sequencer_at/<h>, counted only when /l2/head says its epoch is current),
which sequencer id has our signer (/sequencers), and the L2 block interval
(/params). `NewBlockWaker` subscribes to CometBFT's NewBlock
events over /websocket and sets an event on each, so the agent re-reads the
schedule as soon as a block may have changed it; it reconnects forever.
Every failure raises `ChainReadError` (or is logged, for the waker): never fatal.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request

from abci_app.client.rpc import NodeRpc, QueryRejectedError

log = logging.getLogger("seqset.sequencer.chain")

WS_RECONNECT_MAX_S = 10.0
NEW_BLOCK_QUERY = "tm.event='NewBlock'"


class CometChainReader(NodeRpc):
    """Reads chain queries over CometBFT's HTTP RPC (`abci_query`)."""

    def get_producer_at(self, l2_height: int) -> int | None:
        """The producer of `l2_height` once its epoch is the chain's current epoch; None
        before (a future epoch's stored producer may still be replaced when it starts)."""
        try:
            answer = self.query(f"/sequencer_at/{l2_height}")
        except QueryRejectedError:
            return None  # not scheduled yet (or pruned)
        current_epoch = getattr(self.query("/l2/head"), "epoch", None)
        if current_epoch is None or int(getattr(answer, "epoch", -1)) != int(current_epoch):
            return None
        return int(getattr(answer, "sequencer_id", 0)) or None

    def get_sequencer_id(self, signer: bytes) -> int | None:
        answer = self.query("/sequencers")
        for seq in getattr(answer, "sequencers", []):
            if bytes(seq.signer) == signer:
                return int(seq.id)
        return None

    def get_l2_block_interval_ms(self) -> int:
        params = getattr(self.query("/params"), "params", None)
        return int(getattr(params, "l2_block_interval_ms", 0))


def compute_ws_url(node_rpc_url: str) -> str:
    parts = urllib.parse.urlsplit(node_rpc_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/websocket", "", ""))


class NewBlockWaker:
    """A daemon thread that sets `wake` on every CometBFT NewBlock event."""

    def __init__(self, node_rpc_url: str, wake: threading.Event, stop: threading.Event) -> None:
        self.url = compute_ws_url(node_rpc_url)
        self.wake = wake
        self.stop = stop
        self.connected = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="newblock-waker", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self.listen()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect; polling covers the gap
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("NewBlock subscription to %s failed (%s); polling meanwhile",
                                self.url, exc)
            self.connected = False
            self.stop.wait(min(WS_RECONNECT_MAX_S, 0.5 * 2 ** min(failures, 5)))

    def listen(self) -> None:
        from websockets.sync.client import connect

        with connect(self.url, open_timeout=5, close_timeout=1) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                "params": {"query": NEW_BLOCK_QUERY}}))
            self.connected = True
            while not self.stop.is_set():
                try:
                    ws.recv(timeout=1.0)
                except TimeoutError:
                    continue
                self.wake.set()
