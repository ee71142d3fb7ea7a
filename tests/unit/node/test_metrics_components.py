"""The sidecar's, relayer's and agent's metrics: read from their own memory at each scrape."""

from types import SimpleNamespace
from typing import Any

from abci_app.l1.metrics import build_relayer_registry, build_sidecar_registry
from abci_app.l1.relayer import Relayer
from abci_app.l1.sidecar import LoopState
from abci_app.l2.agent import SequencerAgent
from abci_app.l2.metrics import build_agent_registry


def samples(text: str) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines() if not line.startswith("#")}


class FakeView:
    def __init__(self) -> None:
        self.tip = (0, 0)

    def get_tip(self) -> tuple[int, int]:
        return self.tip


def test_sidecar_lag_head_events_and_up() -> None:
    watcher = SimpleNamespace(head=0, halted="")
    view, state = FakeView(), LoopState()
    l2 = SimpleNamespace(get_tip=lambda: SimpleNamespace(height=17))
    registry = build_sidecar_registry(watcher, view, state, l2)  # type: ignore[arg-type]
    assert samples(registry.render())["seqset_sidecar_up"] == 0  # no L1 head seen yet
    watcher.head, view.tip = 120, (118, 5)
    got = samples(registry.render())
    assert got["seqset_sidecar_up"] == 1
    assert got["seqset_sidecar_l1_head"] == 120
    assert got["seqset_sidecar_l1_confirmed_height"] == 118
    assert got["seqset_sidecar_l1_lag_blocks"] == 2
    assert got["seqset_sidecar_events_confirmed_total"] == 5
    assert got["seqset_sidecar_l2_head"] == 17
    state.failures = 3
    assert samples(registry.render())["seqset_sidecar_up"] == 0
    state.failures, watcher.halted = 0, "reorg deeper than finality"
    assert samples(registry.render())["seqset_sidecar_up"] == 0


class FailingSource:
    def get_pending(self) -> Any:
        raise ConnectionError("node down")


def test_relayer_failures_are_counted() -> None:
    relayer = Relayer(FailingSource(), SimpleNamespace(), 1.0, 5.0)  # type: ignore[arg-type]
    registry = build_relayer_registry(relayer)
    relayer.step()
    relayer.step()
    got = samples(registry.render())
    assert got["seqset_relayer_failures_total"] == 2
    assert got["seqset_relayer_consecutive_failures"] == 2
    assert got["seqset_relayer_batches_settled_total"] == 0


def test_agent_head_and_blocks_produced() -> None:
    agent = SequencerAgent(SimpleNamespace(), SimpleNamespace(), b"\x01" * 20)  # type: ignore[arg-type]
    registry = build_agent_registry(agent)
    agent.stats.produced, agent.stats.l2_head = 4, 31
    got = samples(registry.render())
    assert got["seqset_agent_blocks_produced_total"] == 4
    assert got["seqset_agent_l2_head"] == 31
