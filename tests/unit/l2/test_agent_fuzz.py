"""ACCEPTANCE 8 for the agent: garbage from the chain or the L2 never crashes it or makes it
produce out of turn; the RPC parsers turn any answer into a value or a typed error."""

from __future__ import annotations

import base64
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.client.rpc import ChainReadError, parse_query_body
from abci_app.l1.source import L1Error
from abci_app.l2.agent import SequencerAgent, run_agent
from abci_app.l2.source import L2Block, parse_l2_block

ME = b"\x01" * 20
OUR_ID = 1

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from(["0x", "0x1", "0x" + "ab" * 32, "0x" + "ab" * 20, "0xzz"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["number", "hash", "parentHash", "miner", "timestamp",
                                       "result", "response", "code", "value", "error"]),
                      children, max_size=6),
    max_leaves=12)

# What a broken chain or L2 might hand the agent: values of the wrong type, or raise
answers = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=2), st.just(OUR_ID),
    st.builds(lambda: RuntimeError("rpc down")),
    st.builds(lambda: ValueError("garbage")))


class ScriptedSchedule:
    def __init__(self, producers: list[Any], ids: list[Any], intervals: list[Any]) -> None:
        self.producers, self.ids, self.intervals = producers, ids, intervals
        self.answered_ours: set[int] = set()
        # The ids this script told the agent are its own (any valid answer may be).
        self.claimed_ids: set[int] = set()

    @staticmethod
    def _next(script: list[Any], default: Any) -> Any:
        value = script.pop(0) if script else default
        if isinstance(value, Exception):
            raise value
        return value

    def get_producer_at(self, l2_height: int) -> Any:
        value = self._next(self.producers, None)
        if type(value) is int and value in self.claimed_ids:
            self.answered_ours.add(l2_height)
        return value

    def get_sequencer_id(self, signer: bytes) -> Any:
        value = self._next(self.ids, OUR_ID)
        if type(value) is int and value > 0:
            self.claimed_ids.add(value)
        return value

    def get_l2_block_interval_ms(self) -> Any:
        return self._next(self.intervals, 1)


class ScriptedL2:
    def __init__(self, heads: list[Any]) -> None:
        self.heads = heads
        self.height = 0
        self.produced: list[tuple[int, bytes]] = []

    def get_head(self) -> Any:
        value = self.heads.pop(0) if self.heads else None
        if isinstance(value, Exception):
            raise value
        if isinstance(value, L2Block):
            return value
        if value is None:
            return L2Block(self.height, self.height.to_bytes(32, "big"), b"\x00" * 32,
                           b"\x00" * 20, 0)
        return value  # garbage of another type

    def produce_block(self, coinbase: bytes) -> None:
        self.height += 1
        self.produced.append((self.height, coinbase))


@settings(max_examples=300, deadline=None)
@given(producers=st.lists(answers, max_size=30), ids=st.lists(answers, max_size=5),
       intervals=st.lists(answers, max_size=5),
       heads=st.lists(st.none() | answers, max_size=30))
def test_garbage_answers_never_crash_the_agent_or_produce_out_of_turn(
        producers: list[Any], ids: list[Any], intervals: list[Any], heads: list[Any]) -> None:
    schedule = ScriptedSchedule(producers, ids, intervals)
    l2 = ScriptedL2(heads)
    agent = SequencerAgent(schedule, l2, ME, poll_interval_s=0.0001)
    agent.now_wall = lambda: 10**9
    stop, wake = threading.Event(), threading.Event()
    steps = 0

    def step_counting() -> float:
        nonlocal steps
        steps += 1
        if steps > 40:
            stop.set()
        return SequencerAgent.step(agent)

    agent.step = step_counting  # type: ignore[method-assign]
    run_agent(agent, wake, stop)  # must return only through `stop`
    for height, coinbase in l2.produced:
        assert coinbase == ME
        assert height in schedule.answered_ours


@settings(max_examples=500, deadline=None)
@given(value=json_values)
def test_any_block_answer_parses_or_raises_a_typed_error(value: Any) -> None:
    try:
        block = parse_l2_block(value, "block")
    except L1Error:
        return
    assert block is None or (len(block.hash) == 32 and len(block.producer) == 20)


@settings(max_examples=500, deadline=None)
@given(body=json_values, value=st.binary(max_size=40), code=st.integers(-1, 3))
def test_any_abci_query_answer_decodes_or_raises_a_typed_error(
        body: Any, value: bytes, code: int) -> None:
    wrapped = {"result": {"response": {"code": code,
                                       "value": base64.b64encode(value).decode()}}}
    for candidate in (body, wrapped):
        for path in ("/sequencer_at/5", "/sequencers", "/params"):
            try:
                parse_query_body(path, candidate)
            except ChainReadError:
                pass
