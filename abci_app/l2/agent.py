"""The sequencer agent: produces this validator's L2 blocks, only in its turn.

One `step` (a wake-up) does:
  1. read the L2 head h (eth_blockNumber, then the block: hash, timestamp);
  2. ask the chain who produces h + 1 (/sequencer_at/<h+1>), and take the
     answer only when h + 1 lies in the chain's current epoch (/l2/head); not
     us, not scheduled yet, or a future epoch: nothing to do. A future epoch's
     stored producer may still be replaced when that epoch starts (it became
     ineligible meanwhile), so the first producer of an epoch waits until the
     previous epoch's last header is attested: a handover costs about one or
     two CometBFT blocks beyond l2_block_interval_ms;
  3. wait until `l2_block_interval_ms` (chain param /params) has passed since
     our previous block, or since the head's timestamp when someone else made
     it (capped at one interval after we first saw that head, so a clock
     ahead of ours never stalls us);
  4. re-check right before mining: the head is still h and h + 1 is still ours
     (a re-election may have moved it meanwhile); then mine one block with our
     signer as its coinbase.
The handover is at an exact height: whoever the schedule names for h + 1
makes h + 1, so two honest agents never produce at once; an agent never
produces a height the schedule gives to someone else. The loop wakes on each
CometBFT NewBlock event (chain_reader.NewBlockWaker) and polls every
`poll_interval_ms` as a fallback. Every failure (an RPC error, a garbage
answer, a bug) is logged and retried; nothing stops the agent but `stop`.

Mining is the `L2Producer` interface. `AnvilProducer` (the localnet's L2:
anvil with --no-mining) sets the coinbase and mines on demand
(anvil_setCoinbase, evm_mine), so pending L2 transactions are included only by
the scheduled producer. A production L2 node would not mine on demand: an
op-geth (or l2geth) node holding the sequencer key runs beside op-node, and
the agent would call op-node's admin_startSequencer(<hash of the block before
our first height>) when our span begins and admin_stopSequencer when our
last height is sealed (passing the hash on to the next producer), with the
node's own block time equal to l2_block_interval_ms. The same step logic
applies: start only in turn, stop exactly at the span's last height.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from abci_app.l2.source import L2Block, L2JsonRpc

log = logging.getLogger("seqset.sequencer")

DEFAULT_BLOCK_INTERVAL_MS = 1000  # until the chain's /params answer
PARAMS_REFRESH_S = 30.0  # re-read the interval and our sequencer id this often
MAX_BACKOFF_S = 5.0
REPEAT_LOG_INTERVAL_S = 30.0


class ScheduleSource(Protocol):
    """The chain, as the agent reads it (chain_reader.CometChainReader in production)."""

    def get_producer_at(self, l2_height: int) -> int | None:
        """The sequencer id scheduled for `l2_height` if its epoch is the chain's current
        epoch; None when not scheduled yet or in a later epoch."""
        ...

    def get_sequencer_id(self, signer: bytes) -> int | None: ...

    def get_l2_block_interval_ms(self) -> int: ...


class L2Producer(Protocol):
    """The L2 node, as the agent drives it: read the head, produce one block."""

    def get_head(self) -> L2Block: ...

    def produce_block(self, coinbase: bytes) -> None: ...


class AnvilProducer:
    """Anvil with --no-mining: set the coinbase, then mine one block (pending txs included)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.node = L2JsonRpc(url, timeout_s)

    def get_head(self) -> L2Block:
        number = self.node.get_head_number()
        block = self.node.get_block(number)
        if block is None:
            raise LookupError(f"the L2 node has no block {number}, its own head")
        return block

    def produce_block(self, coinbase: bytes) -> None:
        self.node.call("anvil_setCoinbase", ["0x" + coinbase.hex()])
        self.node.call("evm_mine", [])


def is_sequencer_id(value: object) -> bool:
    """A positive int (not a bool): anything else from a broken chain answer is ignored."""
    return type(value) is int and value > 0


@dataclass
class AgentStats:
    produced: int = 0
    last_produced_height: int = 0
    failures: int = 0
    failures_total: int = 0
    last_error: str = ""
    l2_head: int = 0  # the L2 head height last read


class SequencerAgent:
    def __init__(self, chain: ScheduleSource, l2: L2Producer, signer: bytes,
                 poll_interval_s: float = 0.1) -> None:
        if len(signer) != 20:
            raise ValueError("the signer must be a 20-byte address")
        self.chain = chain
        self.l2 = l2
        self.signer = signer
        self.poll_interval_s = poll_interval_s
        self.stats = AgentStats()
        self.sequencer_id: int | None = None
        self.interval_ms = DEFAULT_BLOCK_INTERVAL_MS
        self._refreshed_at: float | None = None
        self._head_seen: tuple[bytes, float] = (b"", 0.0)  # (hash, monotonic first seen)
        self._produced_at: tuple[int, float] = (0, 0.0)  # (height, monotonic)
        self.now_wall = time.time  # clocks, replaced by tests
        self.now_mono = time.monotonic

    def refresh(self, now_mono: float) -> None:
        """Re-reads our sequencer id and the block interval (every PARAMS_REFRESH_S)."""
        if self._refreshed_at is not None and now_mono - self._refreshed_at < PARAMS_REFRESH_S:
            return
        found = self.chain.get_sequencer_id(self.signer)
        found = found if is_sequencer_id(found) else None
        if found != self.sequencer_id:
            log.info("signer 0x%s is sequencer %s", self.signer.hex(), found)
        self.sequencer_id = found
        interval = self.chain.get_l2_block_interval_ms()
        self.interval_ms = interval if is_sequencer_id(interval) else DEFAULT_BLOCK_INTERVAL_MS
        self._refreshed_at = now_mono

    def is_our_turn(self, height: int) -> bool:
        producer = self.chain.get_producer_at(height)
        return is_sequencer_id(producer) and producer == self.sequencer_id

    def compute_wait_s(self, head: L2Block, now_wall: float, now_mono: float) -> float:
        """Seconds until the block after `head` is due (<= 0: now)."""
        interval_s = self.interval_ms / 1000
        if self._head_seen[0] != head.hash:
            self._head_seen = (head.hash, now_mono)
        produced_height, produced_at = self._produced_at
        if produced_height == head.height and produced_height > 0:
            return produced_at + interval_s - now_mono
        by_timestamp = head.timestamp_s + interval_s - now_wall
        by_sight = self._head_seen[1] + interval_s - now_mono
        return min(by_timestamp, by_sight)

    def step(self) -> float:
        """One wake-up (steps 1-4); returns how long to sleep at most. Raises on failure."""
        now_mono = self.now_mono()
        self.refresh(now_mono)
        if self.sequencer_id is None:
            return self.poll_interval_s * 10  # not a sequencer (yet): look again later
        head = self.l2.get_head()
        self.stats.l2_head = head.height
        height = head.height + 1
        if not self.is_our_turn(height):
            return self.poll_interval_s
        wait_s = self.compute_wait_s(head, self.now_wall(), now_mono)
        if wait_s > 0:
            return min(wait_s, self.poll_interval_s)
        # Verify, right before mining, that the head and the turn are still ours
        if self.l2.get_head().hash != head.hash:
            return 0.0
        if not self.is_our_turn(height):
            log.info("L2 height %d was reassigned just before mining; not producing it", height)
            return self.poll_interval_s
        self.l2.produce_block(self.signer)
        self._produced_at = (height, self.now_mono())
        self.stats.produced += 1
        self.stats.last_produced_height = height
        log.info("produced L2 block %d as sequencer %d", height, self.sequencer_id)
        return 0.0


def run_agent(agent: SequencerAgent, wake: threading.Event, stop: threading.Event) -> None:
    """Steps until `stop`, sleeping until a NewBlock wake-up or the step's delay; never raises."""
    last_logged: dict[str, float] = {}
    while not stop.is_set():
        try:
            delay = agent.step()
        except Exception as exc:  # noqa: BLE001 - RPC failure, garbage answer or bug: retry
            agent.stats.failures += 1
            agent.stats.failures_total += 1
            agent.stats.last_error = f"{type(exc).__name__}: {exc}"
            delay = min(MAX_BACKOFF_S, agent.poll_interval_s * 2 ** min(agent.stats.failures, 6))
            kind = type(exc).__name__
            now = time.monotonic()
            if now - last_logged.get(kind, -REPEAT_LOG_INTERVAL_S) >= REPEAT_LOG_INTERVAL_S:
                last_logged[kind] = now
                log.warning("agent step failed (%s): %s (failure %d in a row; retrying in "
                            "%.1fs)", kind, str(exc)[:300], agent.stats.failures, delay)
        else:
            if agent.stats.failures:
                log.info("agent recovered after %d failures", agent.stats.failures)
                last_logged.clear()
            agent.stats.failures = 0
        if delay > 0:
            wake.wait(delay)
        wake.clear()


def run_sequencer(signer: bytes, l2_rpc_url: str, node_rpc_url: str, poll_interval_ms: int,
                  stop: threading.Event, metrics_address: str = "") -> None:
    """Runs the agent against the L2 node and this validator's CometBFT until `stop`."""
    from abci_app.l2.chain_reader import CometChainReader, NewBlockWaker

    wake = threading.Event()
    NewBlockWaker(node_rpc_url, wake, stop).start()
    agent = SequencerAgent(CometChainReader(node_rpc_url), AnvilProducer(l2_rpc_url), signer,
                           poll_interval_ms / 1000)
    log.info("sequencer agent for signer 0x%s: L2 %s, chain %s", signer.hex(), l2_rpc_url,
             node_rpc_url)
    from abci_app.l2.metrics import build_agent_registry
    from abci_app.node.metrics import start_metrics_server

    metrics = start_metrics_server(metrics_address, build_agent_registry(agent))
    run_agent(agent, wake, stop)
    if metrics is not None:
        metrics.stop()
    log.info("sequencer agent stopped after producing %d L2 blocks", agent.stats.produced)
