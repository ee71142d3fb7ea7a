"""Bench the gas of `Locking.settle` by item count and by signer count, on a real anvil.

Run: .venv/bin/python bench/bench_settle_gas.py   (a minute or two, mostly setup txs)
Gas is each settle transaction's gasUsed (21,000 base and calldata included), measured
from the same state each time (evm_snapshot/evm_revert). The reference, measured in the
same run, is a plain ERC-20 transfer between two addresses that already hold the token.

Signers hold equal stake, so `settle` verifies signatures only until the sum passes
2/3 (3 of 4, 15 of 21, 67 of 100) and the rest cost only their calldata. Items are
rewards to distinct sequencers: each writes one fresh storage slot and one event.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3  # noqa: E402
from web3.logs import DISCARD  # noqa: E402

from abci_app import settlement as s  # noqa: E402
from abci_app.devnet import l1_deploy  # noqa: E402
from abci_app.devnet.anvil import Anvil, DevAccount  # noqa: E402
from abci_app.l1 import contract as c  # noqa: E402

ETHER = 10**18
BIG_STAKE_WEI = 100 * ETHER
DUST_STAKE_WEI = 1  # the item contract's extra sequencers: they hold no real share of stake
ITEM_COUNTS = (1, 10, 100)
SIGNER_COUNTS = (4, 21, 100)
ITEM_SIGNERS = 4
TARGET_PER_SIGNER_GAS = 5_000


@dataclass(frozen=True)
class Row:
    label: str
    signers: int  # signatures sent
    verified: int  # signatures `settle` recovered before passing 2/3
    items: int
    gas: int


def signer_key(index: int) -> bytes:
    return (0xB000 + index).to_bytes(32, "big")


def deploy_with_sequencers(node: Anvil, stakes: list[int]) -> c.LockingDeployment:
    """A fresh Locking whose sequencer i (id i + 1) locks stakes[i] with signer_key(i)."""
    admin, owners = node.accounts[0], node.accounts[1 : len(stakes) + 1]
    dep = l1_deploy.deploy_locking(
        node.w3, admin.private_key, min_lock_wei=1, max_lock_wei=BIG_STAKE_WEI,
        withdrawal_delay_s=0,
    )  # fmt: skip
    for i, (owner, stake) in enumerate(zip(owners, stakes, strict=True)):
        l1_deploy.mint(dep, admin.private_key, owner.address, stake)
        c.set_whitelisted(dep, admin.private_key, owner.address, True)
        signer = Web3.to_checksum_address(s.compute_signer_address(signer_key(i)))
        c.lock(dep, owner.private_key, signer, (i + 1).to_bytes(32, "big"), stake)
    return dep


def measure_settle(
    node: Anvil, dep: c.LockingDeployment, sender: DevAccount, signers: int, items: int
) -> tuple[int, int]:
    """(gasUsed, signatures verified) of settling batch 1 with reward items to ids 1..items."""
    batch = s.Batch(
        nonce=1, chain_id=node.w3.eth.chain_id,
        verifying_contract=bytes.fromhex(dep.locking_address[2:]),
        rewards=tuple(s.Reward(i + 1, ETHER) for i in range(items)),
    )  # fmt: skip
    digest = s.compute_batch_digest(batch)
    signatures = s.sort_signatures(s.sign_digest(digest, signer_key(i)) for i in range(signers))
    snapshot = node.snapshot()
    receipt = c.settle(dep, sender.private_key, batch, signatures)
    node.revert(snapshot)
    (settled,) = dep.locking.events.BatchStake().process_receipt(receipt, errors=DISCARD)
    stake_by_signer = {s.compute_signer_address(signer_key(i)): int(
        dep.locking.functions.sequencers(i + 1).call()[3]) for i in range(signers)}
    total = int(settled["args"]["totalStake"])
    signed_order = [sig.signer for sig in signatures]
    verified = next(n for n in range(1, signers + 1) if s.compute_signed_stake(
        stake_by_signer, signed_order[:n], total)[1])
    return int(receipt["gasUsed"]), verified


def measure_reference(node: Anvil, dep: c.LockingDeployment) -> int:
    """gasUsed of a plain ERC-20 transfer between two existing holders."""
    admin, holder = node.accounts[0], node.accounts[1]
    l1_deploy.mint(dep, admin.private_key, admin.address, 10)
    l1_deploy.mint(dep, admin.private_key, holder.address, 10)
    call = dep.token.functions.transfer(holder.address, 1)
    return int(c.send_transaction(node.w3, admin.private_key, call)["gasUsed"])


def collect_rows(node: Anvil, item_counts: tuple[int, ...] = ITEM_COUNTS,
                 signer_counts: tuple[int, ...] = SIGNER_COUNTS) -> tuple[list[Row], int]:
    """Settle gas by item count, then by signer count (quick mode passes smaller lists)."""
    sender = node.accounts[-1]
    item_dep = deploy_with_sequencers(
        node, [BIG_STAKE_WEI] * ITEM_SIGNERS + [DUST_STAKE_WEI] * (max(item_counts) - ITEM_SIGNERS)
    )
    rows = []
    for items in item_counts:
        gas, verified = measure_settle(node, item_dep, sender, ITEM_SIGNERS, items)
        rows.append(Row(f"{items} items", ITEM_SIGNERS, verified, items, gas))
    for signers in signer_counts:
        dep = deploy_with_sequencers(node, [BIG_STAKE_WEI] * signers)
        gas, verified = measure_settle(node, dep, sender, signers, 1)
        rows.append(Row(f"{signers} signers", signers, verified, 1, gas))
    return rows, measure_reference(node, item_dep)


def print_table(rows: list[Row], reference: int) -> None:
    print(f"reference: ERC-20 transfer = {reference:,} gas")
    print(f"{'case':<12} {'sigs':>5} {'verified':>8} {'items':>5} {'gas':>11} "
          f"{'x transfer':>10}")  # fmt: skip
    for r in rows:
        print(f"{r.label:<12} {r.signers:>5} {r.verified:>8} {r.items:>5} {r.gas:>11,} "
              f"{r.gas / reference:>10.1f}")  # fmt: skip
    items = [r for r in rows if r.label.endswith("items")]
    per_item = (items[-1].gas - items[0].gas) / (items[-1].items - items[0].items)
    signer_rows = [r for r in rows if r.label.endswith("signers")]
    first, last = signer_rows[0], signer_rows[-1]
    per_sent = (last.gas - first.gas) / (last.signers - first.signers)
    per_verified = (last.gas - first.gas) / (last.verified - first.verified)
    print(f"marginal gas per item (reward): {per_item:,.0f}")
    print(f"marginal gas per signature sent: {per_sent:,.0f} "
          f"(target <= {TARGET_PER_SIGNER_GAS:,} per signer)")
    print(f"marginal gas per signature verified (incl. calldata of those past 2/3): "
          f"{per_verified:,.0f}")


def main() -> None:
    with Anvil(accounts=max(max(ITEM_COUNTS), max(SIGNER_COUNTS)) + 2) as node:
        rows, reference = collect_rows(node)
    print_table(rows, reference)


if __name__ == "__main__":
    main()
