"""The sequencer agent against a fake chain and a fake L2: only in turn, exact handover."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from abci_app.l2.agent import SequencerAgent, run_agent
from tests.unit.l2.fake_l2 import FakeL2

SIGNERS = {1: b"\x01" * 20, 2: b"\x02" * 20, 3: b"\x03" * 20}


class FakeSchedule:
    """Heights 1-5 -> sequencer 1, 6-10 -> 2, 11-15 -> 1, ...; `override` wins."""

    def __init__(self, span: int = 5, interval_ms: int = 1000) -> None:
        self.span = span
        self.interval_ms = interval_ms
        self.override: dict[int, int | None] = {}
        self.before_answer: Callable[[int], None] = lambda height: None
        self.asked: list[int] = []

    def get_producer_at(self, l2_height: int) -> int | None:
        self.asked.append(l2_height)
        self.before_answer(l2_height)
        if l2_height in self.override:
            return self.override[l2_height]
        return 1 + ((l2_height - 1) // self.span) % 2

    def get_sequencer_id(self, signer: bytes) -> int | None:
        return next((i for i, s in SIGNERS.items() if s == signer), None)

    def get_l2_block_interval_ms(self) -> int:
        return self.interval_ms


class Clock:
    def __init__(self) -> None:
        self.t = 2_000_000.0

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_agent(schedule: FakeSchedule, l2: FakeL2, seq_id: int, clock: Clock) -> SequencerAgent:
    agent = SequencerAgent(schedule, l2, SIGNERS[seq_id], poll_interval_s=0.1)
    agent.now_wall = lambda: clock.t
    agent.now_mono = lambda: clock.t
    return agent


def run_agents(agents: list[SequencerAgent], clock: Clock, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        for agent in agents:
            agent.step()
        clock.advance(0.1)


def test_each_height_is_produced_by_its_scheduled_sequencer() -> None:
    schedule, l2, clock = FakeSchedule(), FakeL2(now=1_000_000.0), Clock()
    agents = [make_agent(schedule, l2, i, clock) for i in (1, 2)]
    run_agents(agents, clock, 16)
    assert l2.blocks[-1].height >= 14
    for block in l2.blocks[1:]:
        assert block.producer == SIGNERS[schedule.get_producer_at(block.height) or 0]


def test_the_handover_is_at_the_exact_height_and_never_early() -> None:
    schedule, l2, clock = FakeSchedule(), FakeL2(now=1_000_000.0), Clock()
    first = make_agent(schedule, l2, 1, clock)
    run_agents([first], clock, 20)
    # Alone, sequencer 1 stops at the last height of its span
    assert l2.blocks[-1].height == 5
    second = make_agent(schedule, l2, 2, clock)
    run_agents([first, second], clock, 6)
    assert [b.producer for b in l2.blocks[6:12]] == [SIGNERS[2]] * 5 + [SIGNERS[1]]


def test_blocks_come_one_interval_apart() -> None:
    schedule, l2, clock = FakeSchedule(span=100), FakeL2(now=1_000_000.0), Clock()
    agent = make_agent(schedule, l2, 1, clock)
    agent.step()
    assert l2.blocks[-1].height == 1  # the head is old: due at once
    run_agents([agent], clock, 0.95)
    assert l2.blocks[-1].height == 1
    run_agents([agent], clock, 0.2)
    assert l2.blocks[-1].height == 2


def test_a_head_with_a_future_timestamp_waits_one_interval_at_most() -> None:
    schedule, l2, clock = FakeSchedule(span=100), FakeL2(now=9_000_000.0), Clock()
    agent = make_agent(schedule, l2, 1, clock)
    run_agents([agent], clock, 1.3)
    assert l2.blocks[-1].height == 1


def test_a_height_reassigned_just_before_mining_is_not_produced() -> None:
    schedule, l2, clock = FakeSchedule(), FakeL2(now=1_000_000.0), Clock()
    agent = make_agent(schedule, l2, 1, clock)

    def reassign(height: int) -> None:
        if schedule.asked.count(1) == 2:  # the re-check of height 1
            schedule.override[1] = 2

    schedule.before_answer = reassign
    agent.step()
    assert l2.blocks[-1].height == 0
    assert schedule.asked == [1, 1]


def test_nothing_is_produced_for_an_unscheduled_height_or_an_unknown_signer() -> None:
    schedule, l2, clock = FakeSchedule(), FakeL2(now=1_000_000.0), Clock()
    schedule.override[1] = None
    run_agents([make_agent(schedule, l2, 1, clock)], clock, 3)
    schedule.override.clear()
    run_agents([make_agent(schedule, l2, 3, clock)], clock, 3)  # no such sequencer
    assert l2.blocks[-1].height == 0


def test_pending_transactions_are_included_by_the_next_producer() -> None:
    schedule, l2, clock = FakeSchedule(), FakeL2(now=1_000_000.0), Clock()
    agents = [make_agent(schedule, l2, i, clock) for i in (1, 2)]
    run_agents(agents, clock, 5.5)
    l2.pending_txs.append("tx")
    run_agents(agents, clock, 1.5)
    height = l2.included["tx"]
    assert l2.blocks[height].producer == SIGNERS[schedule.get_producer_at(height) or 0]


def test_the_loop_survives_failures_and_keeps_producing() -> None:
    schedule, l2 = FakeSchedule(span=1000, interval_ms=10), FakeL2(now=1_000_000.0)
    l2.fail_next = [ConnectionError("refused"), ValueError("garbage"), KeyError("bug")]
    agent = SequencerAgent(schedule, l2, SIGNERS[1], poll_interval_s=0.01)
    wake, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_agent, args=(agent, wake, stop))
    thread.start()
    deadline = time.monotonic() + 10
    while l2.blocks[-1].height < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    wake.set()
    thread.join(5)
    assert l2.blocks[-1].height >= 3 and not thread.is_alive()
    assert agent.stats.failures == 0  # recovered
