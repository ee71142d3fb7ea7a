"""./scripts/bench: every figure of issue 15 beside its reference, in one table.

Each group runs under its own time budget (SIGALRM: a group over budget is reported as
failed and the rest go on); live nodes are stopped by PID on the way out. The table is
printed and saved as JSON under bench/results/.
"""

import argparse
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import (
    fig_blocks,
    fig_checktx,
    fig_commit,
    fig_finalize,
    fig_l1,
    fig_replay,
    fig_settle,
    fig_votes,
)
from bench.harness import SIZES, Report, Sizes, render_table, save_report
from bench.profile import profile_slowest

# Seconds each group may take at full size; the whole run stays under 15 minutes.
BUDGET_S = {"finalize": 90, "commit": 120, "votes": 45, "blocks": 90, "checktx": 110,
            "replay": 60, "localnet": 120, "l1": 120, "settle": 90, "profile": 60}
GROUPS = tuple(BUDGET_S)


class BudgetExceededError(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BudgetExceededError("over its time budget")


def run_group(report: Report, name: str, work: Callable[[], object]) -> object:
    print(f"--- {name} (budget {BUDGET_S[name]} s)", file=sys.stderr, flush=True)
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(BUDGET_S[name])
    try:
        return work()
    except Exception as exc:  # one failed group must not lose the others' figures
        traceback.print_exc()
        report.errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    finally:
        signal.alarm(0)
        print(f"    {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def run_all(report: Report, sizes: Sizes, workdir: Path, only: set[str]) -> None:
    def wanted(name: str) -> bool:
        return not only or name in only

    in_process: list[tuple[str, Callable[[], object]]] = [
        ("finalize", lambda: fig_finalize.run(report, sizes)),
        ("commit", lambda: fig_commit.run(report, sizes, workdir)),
        ("votes", lambda: fig_votes.run(report, sizes))]
    for name, work in in_process:
        if wanted(name):
            run_group(report, name, work)
    if any(wanted(name) for name in ("blocks", "checktx", "replay")):
        chains = run_group(report, "blocks",
                           lambda: fig_blocks.run_single(report, sizes, workdir))
        if isinstance(chains, fig_blocks.Chains):
            on_chains: list[tuple[str, Callable[[], object]]] = [
                ("checktx", lambda: fig_checktx.run(report, sizes, chains)),
                ("replay", lambda: fig_replay.run(report, sizes, chains))]
            for name, work in on_chains:
                if wanted(name):
                    run_group(report, name, work)
    live: list[tuple[str, Callable[[], object]]] = [
        ("localnet", lambda: fig_blocks.run_localnet(report, sizes, workdir)),
        ("l1", lambda: fig_l1.run(report, sizes, workdir)),
        ("settle", lambda: fig_settle.run(report, sizes))]
    for name, work in live:
        if wanted(name):
            run_group(report, name, work)
    if wanted("profile"):
        report.profile = str(run_group(report, "profile", lambda: profile_slowest(report)))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: the issue's sizes (under 15 min); tiny: a smoke run")
    parser.add_argument("--only", default="", help=f"comma-separated groups of {GROUPS}")
    parser.add_argument("--json", type=Path, default=None, help="where to save the JSON")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="node homes and databases (default: a fresh temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    only = {name for name in args.only.split(",") if name}
    if unknown := only - set(GROUPS):
        print(f"unknown groups: {sorted(unknown)}; choose from {GROUPS}", file=sys.stderr)
        return 2
    report = Report(sizes=args.size)
    with tempfile.TemporaryDirectory(prefix="seqset-bench-") as tmp:
        run_all(report, SIZES[args.size], args.workdir or Path(tmp), only)
    print(render_table(report))
    if report.profile:
        print()
        print(report.profile)
    path = save_report(report, args.json)
    print(f"\nsaved {path} ({time.time() - report.started:.0f} s)")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
