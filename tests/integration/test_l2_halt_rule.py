"""Issue 13, acceptance 7: with 4 equal validators, 1 down is survivable, 2 down halt.

A real 4-validator net (cometbft, L1 and L2 anvils, sidecars, one agent each).
Stopping one whole validator (app, cometbft, sidecar, agent) leaves 3/4 > 2/3
of the power: the chain and the L2 (blocks made and attested) go on. Stopping
a second leaves 1/2: the chain halts (no new height for HALT_S, the one blind
wait here, since it measures the halt). Restarting both resumes it with no
state lost: every node, the restarted ones included, has the same block and
app hashes at the old heights, heights continue, and the L2 continues.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from abci_app.devnet.localnet import LocalNode
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings

pytestmark = pytest.mark.integration

HALT_S = 6.0
PROGRESS = 5  # blocks (CometBFT and L2) that show something still runs


def get_hashes(node: LocalNode, first: int, last: int) -> dict[int, tuple[str, str]]:
    """Per height: (block hash, app hash in its header, i.e. after the height before)."""
    found = {}
    for height in range(first, last + 1):
        block = node.rpc("block", height=height)
        found[height] = (block["block_id"]["hash"], block["block"]["header"]["app_hash"])
    return found


def check_app_state(node: LocalNode, reference: LocalNode) -> None:
    """The app's own state hash is the one the chain committed to at its height."""
    info = node.rpc("abci_info")["response"]
    height = int(info["last_block_height"])
    reference.wait_for_height(height + 1, timeout_s=30)
    header = reference.rpc("block", height=height + 1)["block"]["header"]
    app_hash = base64.b64decode(info["last_block_app_hash"]).hex().upper()
    assert header["app_hash"] == app_hash, f"node {node.index}'s app state at {height} differs"


def pick_bystanders(net: L2Localnet) -> list[int]:
    """Two node indexes that are not the current or the next epoch's producer."""
    head = net.chain_l2_head()
    busy = {int(head.producer_id), int(head.next_producer_id), int(head.next_epoch_producer_id)}
    return [i for i in range(4) if i + 1 not in busy][:2]


def test_one_validator_down_keeps_going_two_halt_and_restart_loses_nothing(
    tmp_path: Path, cometbft_binary: str,
) -> None:
    net = L2Localnet(tmp_path / "net", 4, block_time_ms=500, cometbft=cometbft_binary,
                     l2=L2Settings(block_interval_ms=1000, epoch_length=20))
    with net.running(height=3):
        net.wait_for_attested_l2_height(2, timeout_s=60)
        first, second = pick_bystanders(net)
        assert first != second, "no two validators are free of production duty"
        live = next(n for n in net.nodes if n.index not in (first, second))
        # One down: the chain and the L2 (made and attested) go on
        net.stop_validator(first)
        height, l2 = live.height(), net.chain_l2_head(live.index).height
        live.wait_for_height(height + PROGRESS, timeout_s=30)
        net.wait_for_attested_l2_height(l2 + PROGRESS, timeout_s=30, node=live.index)
        # Two down: no new height (the one blind wait: it measures the halt)
        net.stop_validator(second)
        halted = live.height()
        time.sleep(HALT_S)
        alive = [n for n in net.nodes if n.index not in (first, second)]
        after_halt = {n.index: n.height() for n in alive}
        before = get_hashes(live, 1, halted)
        l2_at_halt = net.chain_l2_head(live.index).height
        print(f"stopped validators {first} and {second} at height {halted}; {HALT_S:.0f}s "
              f"later the live nodes are at {after_halt}")
        assert all(h <= halted + 1 for h in after_halt.values()), after_halt
        assert max(after_halt.values()) == min(after_halt.values()), after_halt
        stuck = max(after_halt.values())
        # Restart both: heights continue, nothing lost, the L2 continues
        net.start_validator(first)
        net.start_validator(second)
        net.net.wait_for_height(stuck + PROGRESS, timeout_s=90)
        for node in net.nodes:
            assert get_hashes(node, 1, halted) == before, f"node {node.index} differs"
            check_app_state(node, live)
        net.wait_for_attested_l2_height(l2_at_halt + PROGRESS, timeout_s=60, node=first)
        faults = [s.reason for s in net.query("/slashes").slashes]
        print(f"resumed past {stuck + PROGRESS}; L2 attested {net.chain_l2_head().height} "
              f"(was {l2_at_halt} at the halt); slashes {faults}")
        powers = [int(v.power) for v in net.query("/validators").validators]
        assert len(powers) == 4 and min(powers) > 0, powers
