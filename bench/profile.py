"""Top frames of the slowest in-process path, through pyinstrument.

"Slowest" is the in-process figure furthest over its target (or the largest ratio to
its reference when none misses); its measurement is run again under the profiler.
"""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import fig_commit, fig_finalize, fig_votes
from bench.harness import Figure, Report

TOP_LINES = 40


def choose_slowest(report: Report) -> Figure | None:
    candidates = [f for f in report.figures if f.group in PROFILERS and f.ratio is not None]
    missed = [f for f in candidates if f.holds is False]
    return max(missed or candidates, key=lambda f: f.ratio or 0.0, default=None)


def _finalize(figure: Figure) -> Callable[[], object]:
    kv = fig_finalize.make_registry_state(figure.size)
    return lambda: fig_finalize.measure_finalize(kv)


def _votes(figure: Figure) -> Callable[[], object]:
    commit, _, valset = fig_votes.make_scenario(figure.size)

    def work() -> None:
        for _ in range(fig_votes.RUNS):
            fig_votes.run_height(commit, valset)

    return work


def _commit(figure: Figure) -> Callable[[], object]:
    path = Path(tempfile.mkdtemp(prefix="seqset-bench-profile-")) / "db"
    store = fig_commit.build_store(path, figure.size)

    def work() -> None:
        try:
            fig_commit.measure_commit(store, figure.size)
        finally:
            store.close()
            shutil.rmtree(path.parent, ignore_errors=True)

    return work


PROFILERS: dict[str, Callable[[Figure], Callable[[], object]]] = {
    "finalize": _finalize, "votes": _votes, "commit": _commit}


def profile_slowest(report: Report) -> str:
    from pyinstrument import Profiler

    figure = choose_slowest(report)
    if figure is None:
        return "no in-process figure to profile"
    work = PROFILERS[figure.group](figure)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    work()
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    lines = text.splitlines()
    return "\n".join([f"profile of the slowest path: {figure.name}", *lines[:TOP_LINES]])
