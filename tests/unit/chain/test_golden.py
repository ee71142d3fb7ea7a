"""Golden app hash: a fixed scenario's state digest is pinned.

If this test fails, the change alters state transitions or encodings: it breaks
consensus with existing chains. Bump APP_PROTOCOL_VERSION and update the pin on purpose.
GOLDEN_SMT_ROOT is the same state's real app hash, as StateStore commits it block by block.
"""

from dataclasses import dataclass, field
from typing import Any

from abci_app import chain, pb
from abci_app.store.state_store import StateStore
from tests.unit.chain.helpers import (
    ETH,
    L2_PARAMS,
    Driver,
    compute_app_hash,
    consensus_address,
    l1_event,
    l1_locked,
    make_chain,
    make_l2_driver,
    make_unjail_tx,
    owner_address,
    signer_address,
)

# Moved (APP_PROTOCOL_VERSION 4): sequencers carry l1_locked_wei, rewards_batched_wei and
# rewards_settled_wei, and params carry the settlement and lock fields (issue 14). Also
# (issue 13 review): params carry seed_timeout_s, the rotation runs before user txs, every
# attested L2 header moves last_progress_time_ns (from the block whose votes saw it), a
# gap of rotation_timeout_s between blocks restarts the producer's clock, and epochs start
# only once seeded.
# Moved (APP_PROTOCOL_VERSION 5, issue 15): the state holds the sequencer indexes
# (validator order, signer, pending rewards) so that a block never reads every sequencer.
# Moved (APP_PROTOCOL_VERSION 6): the state holds two withdrawal indexes, by sequencer and
# (while in their delay) by releasable_at, so that neither a block nor an L1 event reads
# every queued withdrawal (the scenario now ends with one in its delay). Same version:
# settling a batch carries a slash L1 capped at the lock to L1's queue and queues a lock
# L1 already moved to its queue, and a tombstoned sequencer's LockIncreased and
# SignerChanged are applied.
GOLDEN_APP_HASH = "029c55d4fccafe357a42861e05f1e2a0a9ce84dc6f62dcfa8ef5961a6f893a92"

# The same state's sparse-Merkle root through StateStore: it moves whenever the pin above does.
GOLDEN_SMT_ROOT = "c71f85cb86e204bcca5373673a33a82d1d9581ef9ff6b7942005b861c92fab52"
SCENARIO_STAKES = [10 * ETH, 20 * ETH, 30 * ETH]


def run_fixed_scenario(driver: Driver | None = None) -> bytes:
    driver = driver or make_l2_driver(SCENARIO_STAKES)
    driver.block(l1_events=[l1_locked(1, 4, 5 * ETH)], produce=4, l1_confirmed_height=40)
    driver.block(l1_events=[
        l1_event(2, "withdrawal_requested", sequencer_id=2, amount_wei=str(3 * ETH)),
        l1_event(3, "lock_increased", sequencer_id=9, amount_wei="1"),
    ], seed_randomness=pb.l2.L1Randomness(l1_height=16, mix_hash=b"\x07" * 32))
    driver.block(produce=7, producers={6: signer_address(4)}, txs=[make_unjail_tx(1, 0, 1)])
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(2), 2, 0, 60)])
    driver.block(advance_ns=120 * 10**9)  # the producer of epoch 1 is silent: a producer fault
    driver.block(l1_events=[l1_event(4, "released", sequencer_id=2, to=owner_address(2),
                                     amount_wei=str(ETH))])
    # Still in its delay at the end, so that the state holds a due-index entry
    driver.block(l1_events=[l1_event(5, "withdrawal_requested", sequencer_id=3,
                                     amount_wei=str(ETH))])
    return compute_app_hash(driver.kv)


def test_fixed_scenario_app_hash_is_pinned() -> None:
    assert run_fixed_scenario().hex() == GOLDEN_APP_HASH


@dataclass
class CommittingDriver(Driver):
    """A Driver that also commits each block's state changes to a StateStore, as a node does."""

    store: StateStore = field(default_factory=lambda: StateStore(None))
    committed: dict[bytes, bytes] = field(default_factory=dict)

    def block(self, *args: Any, **kwargs: Any) -> chain.BlockOutcome:
        outcome = super().block(*args, **kwargs)
        now, overlay = self.kv.items(), self.store.overlay()
        for key in sorted(self.committed.keys() - now.keys()):
            overlay.delete(key)
        for key, value in sorted(now.items()):
            if self.committed.get(key) != value:
                overlay.set(key, value)
        self.store.commit(overlay, self.height)
        self.committed = now
        return outcome


def compute_smt_root(items: dict[bytes, bytes]) -> bytes:
    """The root of `items` committed at once into a fresh StateStore."""
    store = StateStore(None)
    overlay = store.overlay()
    for key, value in sorted(items.items()):
        overlay.set(key, value)
    return store.commit(overlay, 1)


def test_fixed_scenario_smt_root_is_pinned() -> None:
    driver = CommittingDriver(make_chain(SCENARIO_STAKES, **L2_PARAMS))
    run_fixed_scenario(driver)
    assert driver.store.last_height == driver.height
    assert driver.store.last_app_hash.hex() == GOLDEN_SMT_ROOT
    # The root depends only on the final key/value set, not on the blocks that built it.
    assert compute_smt_root(driver.kv.items()) == driver.store.last_app_hash
