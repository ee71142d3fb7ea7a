"""L1 lock-to-applied latency on the devnet (anvil, Locking, one sidecar per validator).

A new sequencer locks on L1; we watch L1's head, node 0's height and the chain's last
applied L1 nonce together, and report: L1 blocks from inclusion to application, chain
blocks from the sidecars' confirmation (head >= inclusion + confirmations) to
application, and seconds from inclusion to application. The reference is the
confirmation depth: the L1 blocks the chain must wait by design.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from abci_app.devnet.localnet import WaitTimeoutError
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet
from abci_app.l1 import contract
from bench.harness import Figure, Report, Sizes

CHAIN_BLOCK_TIME_MS = 300
TARGET_CHAIN_BLOCKS = 2
POLL_S = 0.05
TIMEOUT_S = 90


@dataclass(frozen=True)
class Latency:
    l1_blocks: int
    chain_blocks_after_confirmation: int
    seconds: float
    confirmations: int


def measure_lock(net: L1Localnet) -> Latency:
    n = len(net.nodes)
    nonce = net.last_applied_nonce() + 1
    new_key = nacl.signing.SigningKey(b"\x42" * 32).verify_key.encode()
    receipt = contract.lock(net.deployment, net.owner(n).private_key, net.owner(n + 1).address,
                            new_key, 100 * TOKEN)
    included, started = int(receipt["blockNumber"]), time.monotonic()
    confirmations = net.settings.confirmations
    confirmed_height: int | None = None
    w3, node = net.anvil.w3, net.nodes[0]
    while time.monotonic() - started < TIMEOUT_S:
        head, height = int(w3.eth.block_number), node.height()
        if confirmed_height is None and head >= included + confirmations:
            confirmed_height = height
        if net.last_applied_nonce() >= nonce:
            seconds = time.monotonic() - started
            applied_height = node.height()
            return Latency(int(w3.eth.block_number) - included,
                           applied_height - (confirmed_height or applied_height), seconds,
                           confirmations)
        time.sleep(POLL_S)
    raise WaitTimeoutError(f"the lock at L1 block {included} was not applied in {TIMEOUT_S}s")


def run(report: Report, sizes: Sizes, workdir: Path) -> None:
    net = L1Localnet(workdir / "l1", sizes.l1_validators, block_time_ms=CHAIN_BLOCK_TIME_MS)
    with net.running():
        latency = measure_lock(net)
    depth = latency.confirmations
    report.add(Figure("l1", "L1 lock to applied, L1 blocks", latency.l1_blocks, "L1 blocks",
                      depth, f"confirmation depth ({depth} blocks on top)"))
    report.add(Figure("l1", "chain blocks after the sidecars confirm",
                      latency.chain_blocks_after_confirmation, "blocks", TARGET_CHAIN_BLOCKS,
                      "the target", f"<= {TARGET_CHAIN_BLOCKS} chain blocks",
                      latency.chain_blocks_after_confirmation <= TARGET_CHAIN_BLOCKS,
                      higher_is_better=False))
    report.add(Figure("l1", "L1 lock to applied, seconds", latency.seconds, "s",
                      notes=f"{sizes.l1_validators} validators, commit {CHAIN_BLOCK_TIME_MS} ms, "
                            "anvil 1 s blocks", higher_is_better=False))
