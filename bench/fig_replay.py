"""Replay through the handshake: stop a node, wipe the app's state, restart it, and let
CometBFT replay every stored block into the app. The reference is kvstore (in memory,
so every restart replays everything), timed the same way from CometBFT's own log."""

import re
import shutil
import time
from datetime import datetime

from abci_app.devnet.localnet import LocalNode, wait_until
from abci_app.node.config import AppConfig
from bench.fig_blocks import Chains
from bench.harness import Figure, Report, Sizes

TARGET_BLOCKS_PER_S = 1_000
_STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d)\|(\d\d:\d\d:\d\d\.\d+)\]")


def _stamp(line: str) -> datetime:
    match = _STAMP.search(line)
    if match is None:
        raise ValueError(f"no timestamp in {line!r}")
    return datetime.strptime(f"{match[1]} {match[2][:15]}", "%Y-%m-%d %H:%M:%S.%f")


def read_replay(log_text: str) -> tuple[int, float]:
    """(blocks replayed, seconds) of the last handshake in a cometbft log."""
    start = log_text.rfind("ABCI Replay Blocks")
    if start < 0:
        raise ValueError("cometbft logged no 'ABCI Replay Blocks'")
    begin_line = log_text[log_text.rfind("\n", 0, start) + 1:log_text.find("\n", start)]
    done = log_text.find("Completed ABCI Handshake", start)
    if done < 0:
        raise ValueError("cometbft logged no completed handshake")
    done_line = log_text[log_text.rfind("\n", 0, done) + 1:log_text.find("\n", done)]
    app_height = int(re.search(r"appHeight=(\d+)", begin_line)[1])  # type: ignore[index]
    store_height = int(re.search(r"storeHeight=(\d+)", begin_line)[1])  # type: ignore[index]
    seconds = (_stamp(done_line) - _stamp(begin_line)).total_seconds()
    return store_height - app_height, max(seconds, 1e-3)


def replay(node: LocalNode, with_app: bool) -> tuple[int, float]:
    log = node.home / "logs" / "cometbft.log"
    log.write_text("")
    if with_app:
        shutil.rmtree(node.home / AppConfig().db_dir, ignore_errors=True)
        node.start_app()
    node.start_cometbft()
    try:
        wait_until("the handshake to complete",
                   lambda: "Completed ABCI Handshake" in log.read_text(), 300, 0.1)
        time.sleep(0.2)
    finally:
        node.stop()
    return read_replay(log.read_text())


def run(report: Report, sizes: Sizes, chains: Chains) -> None:
    blocks, seconds = replay(chains.seqset, with_app=True)
    kv_blocks, kv_seconds = replay(chains.kvstore, with_app=False)
    ours, theirs = blocks / seconds, kv_blocks / kv_seconds
    report.add(Figure("replay", f"replay blocks/s ({blocks} empty blocks)", ours, "blocks/s",
                      theirs, f"kvstore replaying {kv_blocks} blocks",
                      f">= {TARGET_BLOCKS_PER_S:,} blocks/s", ours >= TARGET_BLOCKS_PER_S))
