"""Empty blocks/s, seqset beside CometBFT's kvstore under the same config.toml.

One validator at timeout_commit 1 ms, and an N-validator localnet at 50 ms (at 500 ms
both make 1.22 blocks/s, which hides the app). Vote extensions are on from height 1
for both. The single-validator chains are kept for the replay figure.
"""

from dataclasses import dataclass
from pathlib import Path

from abci_app.devnet.localnet import Localnet, LocalNode
from bench.harness import (
    Figure,
    Report,
    Sizes,
    make_kvstore_homes,
    make_localnet,
    measure_block_rate,
    running_nodes,
    running_socket_kvstore,
)

SINGLE_TIMEOUT_COMMIT_MS = 1
LOCALNET_TIMEOUT_COMMIT_MS = 50
TARGET_RATIO = 0.9


@dataclass
class Chains:
    """The stopped single-validator nodes, with the chains they made."""

    seqset: LocalNode
    kvstore: LocalNode
    kvstore_socket: LocalNode  # abci-cli kvstore behind the same ABCI socket as seqset


def measure_pair(net: Localnet, kv_nodes: list[LocalNode], window_s: float
                 ) -> tuple[float, float]:
    with running_nodes(net.nodes, with_app=True):
        ours = measure_block_rate(net.nodes[0], window_s)
    with running_nodes(kv_nodes, with_app=False):
        theirs = measure_block_rate(kv_nodes[0], window_s)
    return ours, theirs


def run_single(report: Report, sizes: Sizes, workdir: Path) -> Chains:
    net = make_localnet(workdir / "single", 1, SINGLE_TIMEOUT_COMMIT_MS)
    kv_nodes = make_kvstore_homes(net, workdir / "single-kvstore")
    socket_nodes = make_kvstore_homes(net, workdir / "single-kvstore-socket", over_socket=True)
    ours, theirs = measure_pair(net, kv_nodes, sizes.window_s)
    with running_socket_kvstore(socket_nodes):
        theirs_socket = measure_block_rate(socket_nodes[0], sizes.window_s)
    report.add(Figure("blocks", "empty blocks/s, 1 validator, commit 1 ms", ours, "blocks/s",
                      theirs, "kvstore, same config.toml, vote extensions on",
                      f">= {TARGET_RATIO}x kvstore", ours >= TARGET_RATIO * theirs))
    report.add(Figure("blocks", "empty blocks/s, same, vs kvstore over the ABCI socket", ours,
                      "blocks/s", theirs_socket, "abci-cli kvstore behind the same socket",
                      notes="same transport as seqset: what the app itself costs"))
    return Chains(net.nodes[0], kv_nodes[0], socket_nodes[0])


def run_localnet(report: Report, sizes: Sizes, workdir: Path) -> None:
    n = sizes.localnet_size
    net = make_localnet(workdir / "localnet", n, LOCALNET_TIMEOUT_COMMIT_MS)
    kv_nodes = make_kvstore_homes(net, workdir / "localnet-kvstore")
    ours, theirs = measure_pair(net, kv_nodes, sizes.window_s)
    report.add(Figure("localnet", f"{n}-validator localnet blocks/s, commit 50 ms", ours,
                      "blocks/s", theirs, f"{n}-validator kvstore localnet, same config",
                      f">= {TARGET_RATIO}x kvstore", ours >= TARGET_RATIO * theirs))
