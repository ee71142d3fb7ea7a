"""Property: short of a deep reorg, what is served is exactly L1's confirmed events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.l1.source import L1Error, L1UnavailableError
from tests.unit.l1.fake_l1 import FakeL1
from tests.unit.l1.helpers import get_served, make_watcher

CONFIRMATIONS = 3
NAMES = ["Locked", "LockIncreased", "SignerChanged", "Released"]

operation = st.one_of(
    st.tuples(st.just("emit"), st.integers(0, len(NAMES) - 1)),
    st.tuples(st.just("mine"), st.integers(1, 4)),
    st.tuples(st.just("reorg"), st.integers(1, CONFIRMATIONS)),
    st.tuples(st.just("fail"), st.integers(1, 3)),
    st.tuples(st.just("hide"), st.integers(0, 2)),
    st.tuples(st.just("no_state"), st.integers(0, 1)),
    st.tuples(st.just("poll"), st.just(0)),
)


def apply(l1: FakeL1, op: str, arg: int, confirmed: int) -> None:
    if op == "emit":
        l1.emit(NAMES[arg])
    elif op == "mine":
        l1.mine(arg)
    elif op == "reorg":
        # Shallow: never takes a block the watcher confirmed (that would be a halt)
        depth = min(arg, l1.head - confirmed)
        if depth > 0:
            l1.reorg(depth)
    elif op == "fail":
        l1.fail_next = [L1UnavailableError("down")] * arg
    elif op == "no_state":
        l1.no_state = bool(arg)
    elif op == "hide":
        l1.hidden_nonces.add(max(l1.next_nonce - 1 - arg, 1))


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=60))
def test_served_events_are_exactly_the_confirmed_chain_events(ops: list[tuple[str, int]]) -> None:
    l1 = FakeL1()
    watcher, view = make_watcher(l1, confirmations=CONFIRMATIONS, max_range=5)
    tips = [view.get_tip()]
    for op, arg in ops:
        apply(l1, op, arg, view.get_tip()[0])
        try:
            watcher.poll_once()
        except L1Error:
            pass
        tips.append(view.get_tip())
        served = get_served(view)
        # Served events are contiguous from 1 and are the chain's, block hashes included
        chain = l1.get_chain_events(view.get_tip()[0])
        assert [(e.nonce, e.l1_block_number, e.l1_block_hash) for e in served] == \
            chain[: len(served)]
    assert tips == sorted(tips)  # neither the height nor the nonce ever went down
    # Once L1 behaves, everything confirmed is served
    l1.fail_next, l1.hidden_nonces, l1.no_state = [], set(), False
    l1.mine(CONFIRMATIONS + 1)
    for _ in range(4):
        try:
            watcher.poll_once()
        except L1Error:
            pass
    chain = l1.get_chain_events(view.get_tip()[0])
    assert [(e.nonce, e.l1_block_number, e.l1_block_hash) for e in get_served(view)] == chain
    assert not watcher.halted
