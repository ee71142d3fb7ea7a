"""The chain's settlement against a model of Locking.sol, over random interleavings.

Owners act on L1 whenever they like (requestWithdrawal, increaseLock, initiateUnlock,
claim) while the chain slashes; events reach the chain late and in bursts, and batches
settle whenever one is in flight. The model (`L1Model`) follows contracts/Locking.sol:
lock rules, releases oldest first, slashes from the queue newest first then from the
lock capped at what it holds, and the Unlocking -> Exited rule. Checked:
- whenever every L1 event has been relayed, the chain's l1_locked is L1's lock;
- once everything is relayed, settled and claimed: each sequencer's lock and queue are
  the same on both sides, and L1 burned exactly what the chain counts as slashed.
The contract itself runs the same interleavings' building blocks in
tests/integration/test_settlement_contract.py (MirroredChain).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from abci_app import chain, pb
from abci_app import settlement as s
from abci_app.chain.settlement import get_settlement_batch
from abci_app.chain.state import TOMBSTONED, get_l1_locked, get_locked, get_sequencer, get_totals
from abci_app.chain.withdrawals import get_withdrawals
from tests.unit.chain.helpers import ETH, SETTLEMENT_PARAMS, Driver, consensus_address, make_chain

MIN_LOCK_WEI, MAX_LOCK_WEI = 10 * ETH, 200 * ETH
MAX_PENDING_WITHDRAWALS = 32  # Locking.MAX_PENDING_WITHDRAWALS
SEQUENCERS = 6
ACTORS = (1, 2, 3)  # the sequencers whose owners act; the others keep the chain live
STEPS = 60
RUNS = 150
DELAY_NS = 150 * 10**9  # past the helpers' withdrawal delay of 100 s
EVENT_TYPES = {"lock_increased": pb.events.LockIncreased,
               "withdrawal_requested": pb.events.WithdrawalRequested,
               "unlock_initiated": pb.events.UnlockInitiated, "released": pb.events.Released,
               "batch_settled": pb.events.BatchSettled}


@dataclass
class L1Sequencer:
    amount: int
    status: str = "active"  # active, unlocking, exited
    queue: list[int] = field(default_factory=list)
    claimable: int = 0


class L1Model:
    """Locking.sol's state and rules for what these tests do; events go to `outbox`."""

    def __init__(self) -> None:
        self.sequencers = {i: L1Sequencer(100 * ETH) for i in range(1, SEQUENCERS + 1)}
        self.nonce = 0
        self.last_batch = 0
        self.burned = 0
        self.outbox: list[pb.events.L1Event] = []

    def _emit(self, kind: str, **fields: object) -> None:
        self.nonce += 1
        self.outbox.append(pb.events.L1Event(nonce=self.nonce,
                                             **{kind: EVENT_TYPES[kind](**fields)}))

    def request_withdrawal(self, i: int, amount: int) -> bool:
        seq = self.sequencers[i]
        if (seq.status != "active" or not 0 < amount <= seq.amount
                or seq.amount - amount < MIN_LOCK_WEI
                or len(seq.queue) >= MAX_PENDING_WITHDRAWALS):
            return False
        seq.amount -= amount
        seq.queue.append(amount)
        self._emit("withdrawal_requested", sequencer_id=i, amount_wei=str(amount),
                   remaining_wei=str(seq.amount))
        return True

    def increase_lock(self, i: int, amount: int) -> bool:
        seq = self.sequencers[i]
        if seq.status != "active" or seq.amount + amount > MAX_LOCK_WEI:
            return False
        seq.amount += amount
        self._emit("lock_increased", sequencer_id=i, amount_wei=str(amount),
                   new_total_wei=str(seq.amount))
        return True

    def initiate_unlock(self, i: int) -> bool:
        seq = self.sequencers[i]
        if seq.status != "active" or len(seq.queue) >= MAX_PENDING_WITHDRAWALS:
            return False
        amount, seq.amount, seq.status = seq.amount, 0, "unlocking"
        seq.queue.append(amount)
        self._emit("unlock_initiated", sequencer_id=i, amount_wei=str(amount))
        return True

    def claim(self, i: int) -> bool:
        seq = self.sequencers[i]
        if seq.claimable == 0:
            return False
        amount, seq.claimable = seq.claimable, 0
        if seq.status == "unlocking" and not seq.queue:
            seq.status = "exited"
        self._emit("released", sequencer_id=i, to=b"\x01" * 20, amount_wei=str(amount))
        return True

    def settle(self, batch: s.Batch, digest: bytes) -> None:
        assert batch.nonce == self.last_batch + 1
        self.last_batch = batch.nonce
        self._emit("batch_settled", sequencer_id=0, batch_nonce=str(batch.nonce), digest=digest)
        for release in batch.releases:  # oldest first
            seq, left = self.sequencers[release.sequencer_id], release.amount_wei
            while left > 0 and seq.queue:
                take = min(left, seq.queue[0])
                seq.queue[0] -= take
                left -= take
                if seq.queue[0] == 0:
                    seq.queue.pop(0)
            seq.claimable += release.amount_wei - left
        for slash in batch.slashes:  # the queue newest first, then the lock, each capped
            seq, left = self.sequencers[slash.sequencer_id], slash.from_pending_wei
            while left > 0 and seq.queue:
                take = min(left, seq.queue[-1])
                seq.queue[-1] -= take
                left -= take
                if seq.queue[-1] == 0:
                    seq.queue.pop()
            from_locked = min(slash.from_locked_wei, seq.amount)
            seq.amount -= from_locked
            if seq.status == "unlocking" and not seq.queue and seq.claimable == 0:
                seq.status = "exited"
            self.burned += slash.from_pending_wei - left + from_locked


class World:
    """The chain (Driver) and L1Model, moved by one random generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.driver = Driver(make_chain(
            [100 * ETH] * SEQUENCERS, **SETTLEMENT_PARAMS, min_lock_wei=MIN_LOCK_WEI,
            double_sign_slash_bps=self.rng.choice([3000, 5000, 10_000]),
            downtime_slash_bps=2000))
        self.l1 = L1Model()
        self.log: list[str] = []
        self.reconciled: Counter[str] = Counter()  # settlement event attributes seen

    def relay(self, count: int | None = None) -> None:
        outbox = self.l1.outbox
        count = len(outbox) if count is None else min(count, len(outbox))
        events, self.l1.outbox = outbox[:count], outbox[count:]
        self.log.append(f"relay {[e.WhichOneof('kind') for e in events]}")
        outcome = self.driver.block(l1_events=events)
        for event in (e for r in outcome.l1_results for e in r.events):
            if event.type == "settlement_batch_settled":
                self.reconciled.update(key for key, _ in event.attributes)

    def in_flight(self) -> tuple[s.Batch, bytes] | None:
        """The chain's in-flight batch, unless L1 settled it and the chain has not seen it."""
        pending = chain.get_pending_settlement(self.driver.kv)
        if pending is None or pending[0] != self.l1.last_batch + 1:
            return None
        record = get_settlement_batch(self.driver.kv, pending[0])
        assert record is not None
        return s.decode_batch(bytes(record.batch)), pending[1]

    def settle(self) -> None:
        batch = self.in_flight()
        if batch is not None:
            self.log.append(f"L1 settles batch {batch[0].nonce}: {batch[0]}")
            self.l1.settle(*batch)

    def step(self) -> None:
        actions = [self.withdraw, self.withdraw, self.withdraw_all_it_may, self.increase,
                   self.increase, self.unlock, self.claim, self.double_sign, self.downtime,
                   self.settle, self.settle, self.relay_some, self.relay_some, self.relay_some,
                   self.wait, self.driver.block]
        self.rng.choice(actions)()

    def withdraw_all_it_may(self) -> None:
        """Down to the minimum lock: the way to outrun a slash in flight."""
        i = self.rng.choice(ACTORS)
        amount = self.l1.sequencers[i].amount - MIN_LOCK_WEI - self.rng.choice([0, 0, ETH])
        if amount > 0 and self.l1.request_withdrawal(i, amount):
            self.log.append(f"L1 requestWithdrawal({i}, {amount}): all it may")

    def withdraw(self) -> None:
        i, amount = self.rng.choice(ACTORS), self.rng.randint(1, 120) * ETH // 2
        if self.l1.request_withdrawal(i, amount):
            self.log.append(f"L1 requestWithdrawal({i}, {amount})")

    def increase(self) -> None:
        i, amount = self.rng.choice(ACTORS), self.rng.randint(1, 60) * ETH
        if self.l1.increase_lock(i, amount):
            self.log.append(f"L1 increaseLock({i}, {amount})")

    def unlock(self) -> None:
        i = self.rng.choice(ACTORS)
        if self.rng.random() < 0.3 and self.l1.initiate_unlock(i):
            self.log.append(f"L1 initiateUnlock({i})")

    def claim(self) -> None:
        i = self.rng.choice(ACTORS)
        if self.l1.claim(i):
            self.log.append(f"L1 claim({i})")

    def double_sign(self) -> None:
        i = self.rng.choice(ACTORS)
        seq = get_sequencer(self.driver.kv, i)
        if seq is not None and seq.status != TOMBSTONED and self.rng.random() < 0.5:
            self.log.append(f"chain: double sign by {i}")
            self.driver.block(misbehavior=[chain.Misbehavior(
                "duplicate_vote", consensus_address(i), self.driver.height, 0, 1)])

    def downtime(self) -> None:
        i = self.rng.choice(ACTORS)
        self.log.append(f"chain: {i} misses 8 blocks")
        for _ in range(8):
            self.driver.block(votes=[
                chain.VoteInfo(e.address, e.power, e.address != consensus_address(i))
                for e in chain.get_validator_set(self.driver.kv, self.driver.height)])

    def relay_some(self) -> None:
        if self.l1.outbox:
            self.relay(self.rng.randint(1, len(self.l1.outbox)))

    def wait(self) -> None:
        self.driver.block(advance_ns=DELAY_NS)

    def check_l1_locked(self) -> None:
        """With every event relayed, the chain's l1_locked is L1's lock."""
        assert not self.l1.outbox
        for i, l1_seq in self.l1.sequencers.items():
            assert get_l1_locked(get_sequencer(self.driver.kv, i)) == l1_seq.amount, i

    def flush(self) -> None:
        """Relay, settle and claim until both sides are at rest."""
        for _ in range(60):
            self.relay()
            self.check_l1_locked()
            self.settle()
            for i in self.l1.sequencers:
                self.l1.claim(i)
            self.driver.block(advance_ns=DELAY_NS)
            self.driver.block()

    def check_at_rest(self) -> None:
        for i, l1_seq in self.l1.sequencers.items():
            seq = get_sequencer(self.driver.kv, i)
            queued = sum(int(w.amount_wei) for w in get_withdrawals(self.driver.kv, i)
                         if not w.released_on_l1)
            assert (get_locked(seq), queued) == (l1_seq.amount, sum(l1_seq.queue)), i
        assert self.l1.burned == get_totals(self.driver.kv)["total_slashed_wei"]


def run_world(seed: int) -> World:
    world = World(seed)
    try:
        for _ in range(STEPS):
            world.step()
            if not world.l1.outbox:
                world.check_l1_locked()
        world.flush()
        world.check_at_rest()
    except AssertionError:
        print("\n".join(world.log[-40:]))  # shown by pytest on failure
        raise
    return world


@pytest.mark.parametrize("seed", range(RUNS))
def test_chain_and_l1_agree_after_any_interleaving(seed: int) -> None:
    run_world(seed)


def test_the_interleavings_reach_the_carry_and_the_reconcile() -> None:
    seen: Counter[str] = Counter()
    for seed in range(RUNS):
        seen.update(run_world(seed).reconciled)
    assert seen["carried_slash_ids"] > 0 and seen["queued_withdrawal_ids"] > 0, seen
