"""Sequencer agents against a real L2 anvil (--no-mining), with a fake schedule (no chain).

Each agent mines only the heights the schedule gives it, with its signer as
the coinbase, and an L2 transaction sent while one producer is in its turn is
included by whoever produces next, never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from abci_app.devnet.anvil import Anvil
from abci_app.devnet.localnet import wait_until
from abci_app.l2.agent import AnvilProducer, SequencerAgent, run_agent
from abci_app.l2.source import L2JsonRpc

pytestmark = pytest.mark.integration

SIGNERS = {1: bytes.fromhex("11" * 20), 2: bytes.fromhex("22" * 20), 3: bytes.fromhex("33" * 20)}
SPAN = 4  # heights 1-4 -> 1, 5-8 -> 2, 9-12 -> 3, 13-16 -> 1, ...


class SpanSchedule:
    def get_producer_at(self, l2_height: int) -> int | None:
        return 1 + ((l2_height - 1) // SPAN) % 3

    def get_sequencer_id(self, signer: bytes) -> int | None:
        return next((i for i, s in SIGNERS.items() if s == signer), None)

    def get_l2_block_interval_ms(self) -> int:
        return 200


@pytest.fixture
def l2() -> Iterator[Anvil]:
    with Anvil(chain_id=901, mining=False) as node:
        yield node


def start_agents(url: str, ids: list[int], stop: threading.Event
                 ) -> list[tuple[SequencerAgent, threading.Thread]]:
    started = []
    for seq_id in ids:
        agent = SequencerAgent(SpanSchedule(), AnvilProducer(url), SIGNERS[seq_id], 0.05)
        thread = threading.Thread(target=run_agent, args=(agent, threading.Event(), stop),
                                  daemon=True)
        thread.start()
        started.append((agent, thread))
    return started


def test_agents_mine_only_their_heights_with_their_coinbase(l2: Anvil) -> None:
    stop = threading.Event()
    agents = start_agents(l2.url, [1, 2, 3], stop)
    rpc = L2JsonRpc(l2.url)
    try:
        wait_until("the L2 to reach height 14", lambda: rpc.get_head_number() >= 14, 30)
    finally:
        stop.set()
        for _, thread in agents:
            thread.join(5)
    schedule = SpanSchedule()
    for height in range(1, rpc.get_head_number() + 1):
        block = rpc.get_block(height)
        assert block is not None
        assert block.producer == SIGNERS[schedule.get_producer_at(height) or 0], height
    assert all(agent.stats.produced > 0 for agent, _ in agents)


def test_a_pending_transaction_is_included_by_the_next_producer(l2: Anvil) -> None:
    stop = threading.Event()
    # Only sequencer 1 runs: it produces 1-4 and stops; height 5 belongs to sequencer 2
    agents = start_agents(l2.url, [1], stop)
    rpc = L2JsonRpc(l2.url)
    try:
        wait_until("sequencer 1 to produce its span", lambda: rpc.get_head_number() == SPAN, 30)
        tx = l2.rpc("eth_sendTransaction", [{"from": l2.accounts[0].address,
                                              "to": l2.accounts[1].address, "value": "0x1"}])
        threading.Event().wait(1.0)  # several intervals: nobody else may mine meanwhile
        assert rpc.get_head_number() == SPAN
        assert l2.rpc("eth_getTransactionReceipt", [tx]) is None
        agents += start_agents(l2.url, [2], stop)
        receipt = wait_until("the pending tx to be included",
                             lambda: l2.rpc("eth_getTransactionReceipt", [tx]), 30)
    finally:
        stop.set()
        for _, thread in agents:
            thread.join(5)
    height = int(receipt["blockNumber"], 16)
    assert height == SPAN + 1
    block = rpc.get_block(height)
    assert block is not None and block.producer == SIGNERS[2]
