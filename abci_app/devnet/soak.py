"""`scripts/soak [minutes]`: a fresh localnet with an L2, left alone, then checked.

`run_soak` is the whole check, shared with tests/integration/test_l2_soak.py:
it records the validators' powers, leaves the network alone, then reads back
every attested L2 header (from the CometBFT blocks' attested txs) and the
chain's records. It returns the summary lines and the problems:
  - a validator lost power (the chain's /validators, and CometBFT's own set);
  - an attested header's producer is not the signer /sequencer_at names for its
    height, or the attested headers are not the L2 node's own blocks;
  - the L2 stalled: two consecutive L2 blocks further apart (by their
    timestamps, whole seconds) than STALL_INTERVALS block intervals plus one
    second of timestamp resolution, or the attested head fell behind;
  - a fault: a slash, an out-of-turn block, a producer or consensus jail, or a
    producer_fault / l2_out_of_turn / producer_reelected event.
`scripts/soak` prints the summary and exits non-zero on any problem.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from abci_app.devnet.l2_audit import (
    FAULT_EVENT_TYPES,
    AttestedHeader,
    compute_longest_gap_s,
    compute_misattributed,
    count_producers_by_epoch,
    get_attested_headers,
    get_cometbft_powers,
    get_events,
    get_recorded_faults,
)
from abci_app.devnet.localnet import LocalNode
from abci_app.devnet.localnet_l1 import query_node
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings

STALL_INTERVALS = 4  # more than this many L2 block intervals between two blocks is a stall
MAX_ATTESTED_LAG = 20  # L2 blocks the attested head may trail the L2 node's head by
SAMPLE_INTERVAL_S = 5.0
SEED_EVENT_TYPES = ("epoch_seeded", "seed_fallback")


@dataclass
class SoakResult:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    longest_gap_s: int = 0
    l2_height: int = 0
    epochs: int = 0


def get_powers(node: LocalNode) -> dict[int, int]:
    return {int(v.sequencer_id): int(v.power) for v in query_node(node, "/validators").validators}


def check_headers(net: L2Localnet, headers: list[AttestedHeader], result: SoakResult) -> None:
    """The attested headers are the L2 node's blocks 1..n, each by its scheduled producer."""
    heights = [int(a.header.height) for a in headers]
    if heights != list(range(1, len(heights) + 1)):
        result.problems.append(f"attested L2 heights are not 1..{len(heights)}")
    for attested in headers:
        block = net.l2_block(int(attested.header.height))
        if block is None or block.hash != bytes(attested.header.hash):
            result.problems.append(f"attested L2 block {attested.header.height} is not the "
                                   f"L2 node's")
    result.problems += compute_misattributed(net.nodes[0], headers)


def check_progress(net: L2Localnet, headers: list[AttestedHeader], result: SoakResult) -> None:
    head = net.l2_head()
    blocks = [b for b in (net.l2_block(h) for h in range(1, head.height + 1)) if b is not None]
    gap_s, at = compute_longest_gap_s(blocks)
    interval_s = net.l2_settings.block_interval_ms / 1000
    limit_s = STALL_INTERVALS * interval_s + 1  # + 1: timestamps are whole seconds
    result.longest_gap_s, result.l2_height = gap_s, head.height
    result.lines.append(f"L2 blocks: {head.height} (attested {len(headers)}); longest gap "
                        f"{gap_s}s before block {at} (limit {limit_s:g}s)")
    if gap_s > limit_s:
        result.problems.append(f"the L2 stalled for {gap_s}s before block {at} "
                               f"(limit {limit_s:g}s)")
    if head.height - len(headers) > MAX_ATTESTED_LAG:
        result.problems.append(f"the attested L2 head {len(headers)} trails the L2 node's "
                               f"{head.height}")


def check_epochs(net: L2Localnet, headers: list[AttestedHeader], last: int,
                 result: SoakResult) -> None:
    node = net.nodes[0]
    epochs = count_producers_by_epoch(node, headers, net.l2_settings.epoch_length)
    result.epochs = len(epochs)
    seeds = get_events(node, 1, last, SEED_EVENT_TYPES)
    fallbacks = sum(1 for e in seeds if e.type == "seed_fallback")
    result.lines.append(f"epochs: {len(epochs)}; seeds from L1 randomness "
                        f"{len(seeds) - fallbacks}, fallback {fallbacks}")
    result.lines += [f"  epoch {epoch}: " + ", ".join(
        f"sequencer {seq}: {n}" for seq, n in sorted(counts.items()))
        for epoch, counts in sorted(epochs.items())]
    result.problems += [f"epoch {epoch} had several producers: {dict(counts)}"
                        for epoch, counts in sorted(epochs.items()) if len(counts) > 1]


def check_faults(net: L2Localnet, last: int, result: SoakResult) -> None:
    faults = get_recorded_faults(net.nodes[0])
    faults += [f"{e.type} at height {e.height}: {e.attributes}"
               for e in get_events(net.nodes[0], 1, last, FAULT_EVENT_TYPES)]
    result.lines.append(f"faults: {len(faults)}")
    result.lines += [f"  {fault}" for fault in faults]
    result.problems += [f"fault recorded: {fault}" for fault in faults]


def check_powers(net: L2Localnet, before: dict[int, int], result: SoakResult) -> None:
    after = get_powers(net.nodes[0])
    result.lines.append("validator powers: " + ", ".join(
        f"{seq}: {before.get(seq, 0)} -> {after.get(seq, 0)}" for seq in sorted(before)))
    result.problems += [f"validator {seq} lost power ({power} -> {after.get(seq, 0)})"
                        for seq, power in sorted(before.items()) if after.get(seq, 0) < power]
    cometbft = get_cometbft_powers(net.nodes[0])
    if sorted(cometbft.values()) != sorted(after.values()):
        result.problems.append(f"CometBFT's set {cometbft} is not the chain's {after}")


def audit(net: L2Localnet, before: dict[int, int]) -> SoakResult:
    result = SoakResult()
    last = net.nodes[0].height()
    headers = get_attested_headers(net.nodes[0], 1, last)
    check_progress(net, headers, result)
    check_headers(net, headers, result)
    check_epochs(net, headers, last, result)
    check_faults(net, last, result)
    check_powers(net, before, result)
    return result


def run_soak(net: L2Localnet, seconds: float, echo: bool = True) -> SoakResult:
    """Leaves a started network alone for `seconds`, then audits it (see the docstring)."""
    net.net.wait_for_height(2, timeout_s=120)
    net.wait_for_l2_height(1, timeout_s=60)
    before = get_powers(net.nodes[0])
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(SAMPLE_INTERVAL_S, left))
        if echo:
            elapsed = seconds - max(deadline - time.monotonic(), 0)
            click.echo(f"  {elapsed:.0f}s: L2 height {net.l2_head().height}, "
                       f"chain height {net.nodes[0].height()}")
    return audit(net, before)


@click.command()
@click.argument("minutes", type=float, default=5.0)
@click.option("-n", "--validators", default=4, show_default=True, type=click.IntRange(1, 16))
@click.option("--epoch-length", default=L2Settings.epoch_length, show_default=True, type=int)
@click.option("--block-interval-ms", default=L2Settings.block_interval_ms, show_default=True,
              type=int, help="The L2 block interval.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the network lives (default: a fresh temporary folder).")
def main(minutes: float, validators: int, epoch_length: int, block_interval_ms: int,
         folder: Path | None) -> None:
    """Run a fresh localnet with an L2 for MINUTES and print what happened."""
    base = folder or Path(tempfile.mkdtemp(prefix="seqset-soak-"))
    settings = L2Settings(epoch_length=epoch_length, block_interval_ms=block_interval_ms)
    net = L2Localnet(base, validators, anvil_state=base / "anvil-state.json", l2=settings)
    click.echo(f"soak: {validators} validators for {minutes:g} min in {base}")
    with net.running(height=1):
        result = run_soak(net, minutes * 60)
    for line in result.lines:
        click.echo(line)
    for problem in result.problems:
        click.echo(f"FAIL: {problem}")
    click.echo("soak passed" if not result.problems else f"soak failed "
               f"({len(result.problems)} problems); logs in {base}/nodes/node*/logs")
    sys.exit(1 if result.problems else 0)


if __name__ == "__main__":
    main()
