"""`Locking.settle` gas on a real anvil, through bench_settle_gas in quick mode.

The reference is a plain ERC-20 transfer from the same run; the target is the issue
of settlement's: at most TARGET_PER_SIGNER_GAS per extra signer.
"""

from abci_app.devnet.anvil import Anvil
from bench.bench_settle_gas import TARGET_PER_SIGNER_GAS, collect_rows
from bench.harness import Figure, Report, Sizes

QUICK_ITEMS = (1, 10)
QUICK_SIGNERS = (4, 21)


def run(report: Report, sizes: Sizes) -> None:
    items, signers = QUICK_ITEMS, QUICK_SIGNERS
    with Anvil(accounts=max(max(items), max(signers)) + 2) as node:
        rows, reference = collect_rows(node, items, signers)
    for row in rows:
        report.add(Figure("settle", f"settle gas, {row.label} ({row.verified} verified)",
                          row.gas, "gas", reference, "ERC-20 transfer", higher_is_better=False))
    by_signers = [r for r in rows if r.label.endswith("signers")]
    first, last = by_signers[0], by_signers[-1]
    per_signer = (last.gas - first.gas) / (last.signers - first.signers)
    report.add(Figure("settle", "marginal settle gas per signer", per_signer, "gas",
                      target=f"<= {TARGET_PER_SIGNER_GAS:,} gas",
                      holds=per_signer <= TARGET_PER_SIGNER_GAS, higher_is_better=False))
