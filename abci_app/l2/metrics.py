"""The sequencer agent's metrics, read from its stats at each scrape ([sequencer]
metrics_address in seqset.toml; "" serves nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abci_app.node.metrics import AGENT, Registry

if TYPE_CHECKING:
    from abci_app.l2.agent import SequencerAgent


def build_agent_registry(agent: SequencerAgent) -> Registry:
    registry = Registry(AGENT)
    stats = agent.stats
    registry["seqset_agent_blocks_produced_total"].set_function(lambda: stats.produced)
    registry["seqset_agent_l2_head"].set_function(lambda: stats.l2_head)
    registry["seqset_agent_failures_total"].set_function(lambda: stats.failures_total)
    return registry
