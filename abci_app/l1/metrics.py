"""The sidecar's and the relayer's metrics, read from their own memory at each scrape.

Each process serves its registry (abci_app/node/metrics.py) on its own
`metrics_address` ([sidecar], [relayer] in seqset.toml); "" serves nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abci_app.node.metrics import RELAYER, SIDECAR, Registry

if TYPE_CHECKING:
    from abci_app.l1.relayer import Relayer
    from abci_app.l1.sidecar import LoopState
    from abci_app.l1.view import ObservedLog
    from abci_app.l1.watcher import Watcher
    from abci_app.l2.follower import L2Follower


def is_watcher_up(watcher: Watcher, state: LoopState) -> bool:
    """Polling L1 and not failing: a halted or failing watcher confirms nothing new."""
    return not watcher.halted and state.failures == 0 and watcher.head > 0


def build_sidecar_registry(watcher: Watcher, view: ObservedLog, state: LoopState,
                           l2: L2Follower | None) -> Registry:
    registry = Registry(SIDECAR)

    def l2_head() -> float:
        tip = None if l2 is None else l2.get_tip()
        return 0.0 if tip is None else float(tip.height)

    readers = {
        "seqset_sidecar_up": lambda: float(is_watcher_up(watcher, state)),
        "seqset_sidecar_l1_head": lambda: float(watcher.head),
        "seqset_sidecar_l1_confirmed_height": lambda: float(view.get_tip()[0]),
        "seqset_sidecar_l1_lag_blocks": lambda: float(max(watcher.head - view.get_tip()[0], 0)),
        "seqset_sidecar_events_confirmed_total": lambda: float(view.get_tip()[1]),
        "seqset_sidecar_poll_failures": lambda: float(state.failures),
        "seqset_sidecar_l2_head": l2_head,
    }
    for name, read in readers.items():
        registry[name].set_function(read)
    return registry


def build_relayer_registry(relayer: Relayer) -> Registry:
    registry = Registry(RELAYER)
    stats = relayer.stats
    registry["seqset_relayer_batches_settled_total"].set_function(lambda: len(stats.settled))
    registry["seqset_relayer_failures_total"].set_function(lambda: stats.failures_total)
    registry["seqset_relayer_consecutive_failures"].set_function(lambda: stats.failures)
    return registry
