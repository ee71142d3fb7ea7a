"""Property: over random withdrawals, slashes, rewards and settlements, the chain and a
model of the Locking contract never come apart.

- every sequencer's power <= min(locked, l1_locked) // power_reduction;
- the chain's l1_locked_wei equals the contract's lock, and no settled item is capped;
- once everything settles, rewards claimable on L1 == rewards accrued on the chain, and
  L1's withdrawal queues hold exactly what the chain still owes.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import chain
from abci_app import settlement as s
from abci_app.chain.state import get_l1_locked, get_locked, get_sequencer, get_stake, put_sequencer
from abci_app.chain.withdrawals import get_withdrawal_amount, get_withdrawals
from tests.unit.chain.helpers import (
    ETH,
    SETTLEMENT_PARAMS,
    Driver,
    consensus_address,
    l1_event,
    make_driver,
)

IDS = (1, 2, 3, 4)
DELAY_NS = 100 * 10**9

STEPS = st.lists(st.one_of(
    st.tuples(st.just("withdraw"), st.sampled_from(IDS), st.integers(1, 60)),
    st.tuples(st.just("slash"), st.sampled_from(IDS[1:]), st.just(0)),
    st.tuples(st.just("reward"), st.sampled_from(IDS), st.integers(1, 10**6)),
    st.tuples(st.just("wait"), st.just(0), st.just(0)),
    st.tuples(st.just("settle"), st.just(0), st.just(0)),
), max_size=25)


class L1Model:
    """Locking.sol's lock, queue and reward arithmetic for the items settle applies."""

    def __init__(self) -> None:
        self.locked = dict.fromkeys(IDS, 100 * ETH)
        self.queued = dict.fromkeys(IDS, 0)
        self.rewards = dict.fromkeys(IDS, 0)
        self.claimable = dict.fromkeys(IDS, 0)

    def apply(self, batch: s.Batch) -> None:
        for release in batch.releases:
            assert release.amount_wei <= self.queued[release.sequencer_id]
            self.queued[release.sequencer_id] -= release.amount_wei
            self.claimable[release.sequencer_id] += release.amount_wei
        for slash in batch.slashes:
            assert slash.from_pending_wei <= self.queued[slash.sequencer_id]
            assert slash.from_locked_wei <= self.locked[slash.sequencer_id]
            self.queued[slash.sequencer_id] -= slash.from_pending_wei
            self.locked[slash.sequencer_id] -= slash.from_locked_wei
        for reward in batch.rewards:
            self.rewards[reward.sequencer_id] += reward.amount_wei


def _settle(driver: Driver, model: L1Model) -> None:
    pending = chain.get_pending_settlement(driver.kv)
    if pending is None:
        driver.block()
        return
    record = chain.query(driver.kv, "/settlement/pending", b"", 0)
    batch = s.decode_batch(bytes(chain.decode_query_value("/settlement/pending",
                                                          record.value).batch.batch))
    model.apply(batch)
    nonce = chain.get_last_applied_l1_nonce(driver.kv) + 1
    driver.block(l1_events=[l1_event(nonce, "batch_settled", sequencer_id=0,
                                     batch_nonce=str(pending[0]), digest=pending[1])])


def _step(driver: Driver, model: L1Model, step: tuple[str, int, int]) -> None:
    kind, index, value = step
    if kind == "withdraw":
        amount = model.locked[index] * value // 100
        if amount == 0 or model.locked[index] - amount < ETH:
            return  # L1 would revert (BelowMinLock)
        model.locked[index] -= amount
        model.queued[index] += amount
        nonce = chain.get_last_applied_l1_nonce(driver.kv) + 1
        driver.block(l1_events=[l1_event(nonce, "withdrawal_requested", sequencer_id=index,
                                         amount_wei=str(amount),
                                         remaining_wei=str(model.locked[index]))])
    elif kind == "slash":
        driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(index),
                                                    driver.height, 0, 400)])
    elif kind == "reward":
        seq = get_sequencer(driver.kv, index)
        seq.rewards_accrued_wei = str(int(seq.rewards_accrued_wei or "0") + value)
        put_sequencer(driver.kv, seq)
    elif kind == "wait":
        driver.block(advance_ns=DELAY_NS)
    else:
        _settle(driver, model)


def _check(driver: Driver, model: L1Model) -> None:
    for entry in chain.get_validator_set(driver.kv, driver.height + 2):
        seq = get_sequencer(driver.kv, entry.sequencer_id)
        assert entry.power <= min(get_locked(seq), get_l1_locked(seq)) // ETH
        assert entry.power == get_stake(seq) // ETH
    for index in IDS:
        assert get_l1_locked(get_sequencer(driver.kv, index)) == model.locked[index]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_chain_and_contract_never_come_apart(steps: list[tuple[str, int, int]]) -> None:
    driver = make_driver([100 * ETH] * 4, **{**SETTLEMENT_PARAMS, "settlement_interval_blocks": 1})
    model = L1Model()
    for step in steps:
        _step(driver, model, step)
        _check(driver, model)
    # Drain: every delay passes, every batch settles
    driver.block(advance_ns=DELAY_NS)
    for _ in range(20):
        _settle(driver, model)
        _check(driver, model)
    assert chain.get_pending_settlement(driver.kv) is None
    accrued = {i: int(get_sequencer(driver.kv, i).rewards_accrued_wei or "0") for i in IDS}
    assert model.rewards == accrued
    # What the chain released is claimable on L1; nothing else is left in L1's queues
    owed = dict.fromkeys(IDS, 0)
    for withdrawal in get_withdrawals(driver.kv):
        assert withdrawal.released_on_l1
        owed[withdrawal.sequencer_id] += get_withdrawal_amount(withdrawal)
    assert model.queued == dict.fromkeys(IDS, 0)
    assert model.claimable == owed
