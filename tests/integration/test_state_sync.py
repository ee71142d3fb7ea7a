"""A fifth node joins a running 4-validator network through CometBFT state sync from the
apps' snapshots: it restores one (no replay from height 1), computes the same app hashes
as the validators afterwards, and keeps up. Real cometbft and `seqset start` processes."""

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.devnet.localnet import Localnet, LocalNode, wait_until
from abci_app.devnet.ports import free_ports
from abci_app.node.home import NodePorts, set_toml_value

SNAPSHOT_INTERVAL = 10
TRUST_HEIGHT = 3


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[Localnet]:
    base: Path = tmp_path_factory.mktemp("state-sync") / "net"
    network = Localnet(base, 4, block_time_ms=500, cometbft=cometbft_binary,
                       app_overrides={"snapshot_interval": SNAPSHOT_INTERVAL})
    network.init()
    try:
        network.start()
        network.wait_for_height(2 * SNAPSHOT_INTERVAL + 3, timeout_s=120)
        yield network
    finally:
        network.stop()


def enable_state_sync(node: LocalNode, servers: list[LocalNode], trust: LocalNode) -> None:
    """[statesync] as an operator sets it: two RPC servers and a trusted header of theirs."""
    block_id = trust.rpc("block", height=TRUST_HEIGHT)["block_id"]
    path = node.home / "config" / "config.toml"
    text = path.read_text()
    for key, value in (
        ("enable", "true"),
        ("rpc_servers", '"' + ",".join(s.rpc_url for s in servers) + '"'),
        ("trust_height", str(TRUST_HEIGHT)),
        ("trust_hash", f'"{block_id["hash"]}"'),
        ("trust_period", '"36h0m0s"'),  # below withdrawal_delay_s (48 h)
        ("discovery_time", '"5s"'),  # CometBFT's least
    ):
        text = set_toml_value(text, "statesync", key, value)
    path.write_text(text)


def app_hash_at(node: LocalNode, height: int) -> bytes:
    """The app hash this node's own app committed at `height`."""
    response = node.abci_query(f"/app_hash/{height}")
    assert response.get("code", 0) == 0, f"node {node.index}: {response.get('log')}"
    return base64.b64decode(response["value"])


def test_a_fifth_node_joins_by_state_sync_and_keeps_up(net: Localnet) -> None:
    validators = net.nodes[:4]
    fifth = net.add_home(NodePorts(*free_ports(3)))
    enable_state_sync(fifth, validators[:2], validators[0])
    fifth.start()

    # Restored from a snapshot: its block store starts there, not at height 1.
    status = wait_until("the fifth node to finish state sync and catch up",
                        lambda: _caught_up(fifth), timeout_s=120)
    app_log = (fifth.home / "logs" / "app.log").read_text()
    restored = re.search(r"snapshot at height (\d+) restored", app_log)
    assert restored is not None, app_log[:3000]
    snapshot_height = int(restored.group(1))
    assert snapshot_height >= SNAPSHOT_INTERVAL and snapshot_height % SNAPSHOT_INTERVAL == 0
    assert "finalized height=1 " not in app_log
    # CometBFT keeps blocks from just after the snapshot on.
    earliest = int(status["sync_info"]["earliest_block_height"])
    assert snapshot_height <= earliest <= snapshot_height + 1, status["sync_info"]

    # It keeps up: after catching up through consensus it stays within a few blocks of
    # the validators while its height keeps rising.
    wait_until("the fifth node to come within 2 blocks of the validators",
               lambda: _gap(fifth, validators) <= 2, timeout_s=60)
    for _ in range(3):
        fifth.wait_for_height(fifth.height() + 2, timeout_s=30)
        gap = _gap(fifth, validators)
        assert gap <= 3, f"the fifth node fell {gap} blocks behind"

    # The same state: at every height it committed itself, the validators' app hash.
    common = fifth.height() - 1
    for height in (snapshot_height + 1, common):
        ours = app_hash_at(fifth, height)
        assert ours == app_hash_at(validators[2], height) == app_hash_at(validators[3], height)
    header = fifth.rpc("block", height=common + 1)["block"]["header"]
    assert bytes.fromhex(header["app_hash"]) == app_hash_at(fifth, common)


def _caught_up(node: LocalNode) -> dict[str, object] | None:
    status = node.rpc("status")
    sync = status["sync_info"]
    if sync["catching_up"] or int(sync["latest_block_height"]) <= 1:
        return None
    return dict(status)


def _gap(node: LocalNode, validators: list[LocalNode]) -> int:
    return max(v.height() for v in validators) - node.height()
