"""SIGKILL the app at the worst moments; CometBFT's handshake must replay to identical hashes."""

import base64
import shutil
from pathlib import Path

import pytest

from abci_app.devnet.localnet import Localnet, LocalNode, wait_until

CRASHES = [
    ("finalize-done", 4),        # after FinalizeBlock, before Commit
    ("commit-before-write", 7),  # inside Commit, before the batch is written
    ("commit-after-write", 10),  # inside Commit, after the batch, before the answer
]
FINAL_HEIGHT = 14


def app_hash_at(node: LocalNode, height: int) -> str:
    response = node.abci_query(f"/app_hash/{height}")
    assert response.get("code", 0) == 0, f"no app hash for height {height}: {response}"
    return str(response["value"])


def crash_and_restart(node: LocalNode, point: str, height: int) -> None:
    node.stop()
    node.start_app(env={"SEQSET_FAILPOINT": f"{point}:{height}"})
    node.start_cometbft()
    assert node.app_proc is not None
    wait_until(f"the app to kill itself at {point}:{height}",
               lambda: node.app_proc is not None and node.app_proc.poll() is not None, 60)
    assert node.app_proc.returncode == -9, f"app exited with {node.app_proc.returncode}"
    # CometBFT stops itself once its ABCI connection is gone.
    wait_until("cometbft to exit after losing the app",
               lambda: node.cometbft_proc is not None and node.cometbft_proc.poll() is not None,
               30)
    node.start()
    node.wait_for_height(height + 2)


def test_crashes_replay_to_the_same_app_hashes(single_net: Localnet, tmp_path: Path) -> None:
    node = single_net.nodes[0]
    node.start()
    node.wait_for_height(2)
    for point, height in CRASHES:
        crash_and_restart(node, point, height)
    node.wait_for_height(FINAL_HEIGHT)
    crashed = {h: app_hash_at(node, h) for h in range(1, FINAL_HEIGHT)}
    node.stop()

    # The same blocks, replayed from genesis into a fresh app with no crash.
    replay_home = tmp_path / "replay"
    shutil.copytree(node.home, replay_home, ignore=shutil.ignore_patterns("logs"))
    shutil.rmtree(replay_home / "data" / "seqset.db")
    replay = LocalNode(9, replay_home, node.ports, node.cometbft)
    try:
        replay.start()
        replay.wait_for_height(FINAL_HEIGHT + 1)
        replayed = {h: app_hash_at(replay, h) for h in range(1, FINAL_HEIGHT)}
        headers = {h: replay.rpc("block", height=h + 1)["block"]["header"]["app_hash"]
                   for h in range(1, FINAL_HEIGHT)}
    finally:
        replay.stop()
    assert replayed == crashed
    for h in range(1, FINAL_HEIGHT):
        assert bytes.fromhex(headers[h]) == base64.b64decode(crashed[h]), h


@pytest.mark.parametrize("point", ["finalize-done", "commit-before-write", "commit-after-write"])
def test_a_crash_in_the_first_block_recovers(single_net: Localnet, point: str) -> None:
    """Block 1 is special: until its Commit the genesis state lives only in memory."""
    node = single_net.nodes[0]
    crash_and_restart(node, point, 1)
    node.wait_for_height(4)
    for h in range(1, 4):
        header = node.rpc("block", height=h + 1)["block"]["header"]["app_hash"]
        assert bytes.fromhex(header) == base64.b64decode(app_hash_at(node, h)), h
