"""Issue 13, acceptance 2: a failed producer is replaced within the timeout, nothing is lost.

A real 4-validator net (cometbft, L1 and L2 anvils, sidecars, one agent each)
with rotation_timeout_s = 5. The scheduled producer's agent is killed (then,
in the second test, its whole validator): another agent must produce the next
L2 block within rotation_timeout + 2 CometBFT blocks + one L2 block interval,
measured from the L2 blocks' own timestamps (whole seconds) and, to the
nanosecond, between the CometBFT blocks that attested them, with the CometBFT
block time taken from the chain's block times. The fault is recorded (a missed_production
slash and a producer jail), the sequencer keeps its CometBFT power but for the
small slash, and every L2 transaction sent during the gap is included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abci_app.devnet.l2_audit import (
    NS_PER_S,
    get_attested_headers,
    get_block_time_ns,
    get_cometbft_powers,
    get_signers,
)
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.l2.source import L2Block

pytestmark = pytest.mark.integration

ROTATION_TIMEOUT_S = 5
BLOCK_TIME_MS = 500  # CometBFT's timeout_commit
SETTINGS = L2Settings(block_interval_ms=1000, epoch_length=20,
                      rotation_timeout_s=ROTATION_TIMEOUT_S)
PRODUCER_FAULT_SLASH_BPS = 10
GAP_TXS = 3
# The victim must hold at least this many more heights of its epoch when it dies,
# so that the next height is its own and only a failover can produce it.
MIN_HEIGHTS_LEFT = 6


@pytest.fixture
def l2net(tmp_path: Path, cometbft_binary: str) -> Iterator[L2Localnet]:
    net = L2Localnet(tmp_path / "net", 4, block_time_ms=BLOCK_TIME_MS, l2=SETTINGS,
                     cometbft=cometbft_binary,
                     params={"producer_fault_slash_bps": PRODUCER_FAULT_SLASH_BPS})
    with net.running(height=3):
        net.wait_for_attested_l2_height(2, timeout_s=60)
        yield net


@dataclass(frozen=True)
class Failover:
    victim: int  # sequencer id (node index + 1)
    last: L2Block  # the victim's last block
    first: L2Block  # the first block after the gap
    gap_txs: list[str]


def is_mid_epoch(net: L2Localnet) -> int | None:
    """The victim's sequencer id when the next L2 height is well inside its epoch."""
    height = net.l2_head().height + 1
    left = SETTINGS.epoch_length - (height - 1) % SETTINGS.epoch_length
    return net.scheduled_producer(height) if left >= MIN_HEIGHTS_LEFT else None


def run_failover(net: L2Localnet, kill: Callable[[int], None]) -> Failover:
    victim = wait_until("the next L2 height to be well inside its epoch",
                        lambda: is_mid_epoch(net), 60)
    kill(victim - 1)
    last = net.l2_head()
    live = next(n for n in net.nodes if n.index != victim - 1)
    assert net.scheduled_producer(last.height + 1, live.index) == victim, (
        "the victim's turn ended meanwhile")
    gap_txs = []
    for _ in range(GAP_TXS):  # spread over the gap, one CometBFT block apart
        gap_txs.append(net.send_l2_tx(sender=0))
        live.wait_for_height(live.height() + 1, timeout_s=10)
    net.wait_for_l2_height(last.height + 1, timeout_s=60)
    # Exactly the next height: the head may already be past it when the wait looks
    first = net.l2_block(last.height + 1)
    assert first is not None
    return Failover(victim, last, first, gap_txs)


def compute_mean_block_s(net: L2Localnet, node: int, first: int, last: int) -> float:
    """The chain's mean block interval over heights [first, last], from its block times."""
    start, end = get_block_time_ns(net.nodes[node], first), get_block_time_ns(net.nodes[node], last)
    return (end - start) / NS_PER_S / max(last - first, 1)


def check_failover(net: L2Localnet, result: Failover, kind: str) -> None:
    node = next(n.index for n in net.nodes if n.index != result.victim - 1)
    live = net.nodes[node]
    signers = get_signers(live)
    assert result.last.producer == signers[result.victim], "the last block before the gap"
    assert result.first.producer != signers[result.victim], "the victim produced after dying"
    successor = net.scheduled_producer(result.first.height, node)
    assert result.first.producer == signers[successor], "the new block's producer is scheduled"
    # The gap, from the L2's own timestamps; the block time from the chain's block times
    gap_s = result.first.timestamp_s - result.last.timestamp_s
    net.wait_for_attested_l2_height(result.first.height, timeout_s=30, node=node)
    height = live.height()
    block_s = compute_mean_block_s(net, node, max(height - 40, 1), height)
    bound_s = ROTATION_TIMEOUT_S + 2 * block_s + SETTINGS.block_interval_ms / 1000
    attested = {int(a.header.height): a for a in get_attested_headers(live, max(height - 60, 1),
                                                                         height)}
    chain_gap_s = (attested[result.first.height].time_ns
                   - attested[result.last.height].time_ns) / NS_PER_S
    fault_ns = min(s.time_ns for s in net.query("/slashes", node).slashes
                   if s.sequencer_id == result.victim)
    report = (f"{kind}: L2 gap {gap_s}s (L2 timestamps, whole seconds; "
              f"{chain_gap_s:.2f}s between the blocks that attested them: "
              f"{(fault_ns - attested[result.last.height].time_ns) / NS_PER_S:.2f}s to the fault, "
              f"{(attested[result.first.height].time_ns - fault_ns) / NS_PER_S:.2f}s from it) "
              f"vs rotation_timeout {ROTATION_TIMEOUT_S}s; bound {bound_s:.2f}s = timeout + "
              f"2 x {block_s:.2f}s CometBFT blocks + {SETTINGS.block_interval_ms} ms L2 interval; "
              f"sequencer {result.victim} -> {successor}")
    print(report)
    # Timestamps are whole seconds: a true gap g reads as floor or ceil of g, so the L2's own
    # reading may exceed the bound by under 1 s; the attesting blocks' times have ns resolution.
    assert gap_s < bound_s + 1, report
    assert chain_gap_s <= bound_s, report
    check_fault_recorded(net, node, result.victim)
    check_gap_txs_included(net, result)


def check_fault_recorded(net: L2Localnet, node: int, victim: int) -> None:
    slashes = [s for s in net.query("/slashes", node).slashes if s.sequencer_id == victim]
    assert [s.reason for s in slashes] == ["missed_production"], slashes
    assert slashes[0].fraction_bps == PRODUCER_FAULT_SLASH_BPS
    seq = net.query(f"/sequencer/{victim}", node).sequencer
    assert seq.producer_jailed_until_ns > 0, "the victim is not producer-jailed"
    assert seq.jailed_until_ns == 0, "a producer fault must not jail the validator"
    others = [s for s in net.query("/slashes", node).slashes if s.sequencer_id != victim]
    assert not others, f"someone else was slashed: {others}"
    # It keeps its CometBFT power, minus the small slash (power 1000 -> 999)
    powers = {int(v.sequencer_id): int(v.power) for v in net.query("/validators", node).validators}
    full = max(powers.values())
    assert powers.get(victim, 0) >= full - full * PRODUCER_FAULT_SLASH_BPS // 10_000 - 1, powers
    cometbft = get_cometbft_powers(net.nodes[node])
    assert len(cometbft) == 4 and min(cometbft.values()) == powers[victim], cometbft


def check_gap_txs_included(net: L2Localnet, result: Failover) -> None:
    blocks = {}
    for tx in result.gap_txs:
        blocks[tx] = wait_until(f"L2 tx {tx} to be included", lambda tx=tx: net.l2_tx_block(tx),
                                30)
    assert all(h >= result.first.height for h in blocks.values()), blocks


def test_killing_the_producers_agent_fails_over_within_the_timeout(l2net: L2Localnet) -> None:
    result = run_failover(l2net, l2net.stop_agent)
    check_failover(l2net, result, "agent killed")


def test_killing_the_producers_whole_validator_fails_over_within_the_timeout(
    l2net: L2Localnet,
) -> None:
    result = run_failover(l2net, l2net.stop_validator)
    check_failover(l2net, result, "validator killed")
