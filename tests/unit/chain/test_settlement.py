"""Settlement batches: formation, signatures, completeness, BatchSettled, and the issue's
"Why" bullets at chain level (each fails on the code before issue 14)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from abci_app import chain, pb
from abci_app import settlement as s
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.settlement import get_settlement_batch
from abci_app.chain.state import (
    get_chain_state,
    get_l1_locked,
    get_locked,
    get_record,
    get_sequencer,
    get_totals,
    put_chain_state,
    put_record,
    put_sequencer,
)
from abci_app.chain.withdrawals import get_withdrawals
from abci_app.errors import BatchMismatchError
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    DEFAULT_PARAMS,
    ETH,
    GENESIS_TIME_NS,
    L1_CHAIN_ID,
    L1_CONTRACT,
    SETTLEMENT_PARAMS,
    Driver,
    consensus_address,
    genesis_sequencer,
    l1_event,
    make_driver,
    signer_address,
    signer_key,
)

DELAY_NS = 100 * 10**9  # helpers' withdrawal_delay_s


def _driver(stakes: list[int] | None = None, **params: Any) -> Driver:
    return make_driver(stakes or [100 * ETH] * 3, **{**SETTLEMENT_PARAMS, **params})


def _next_nonce(driver: Driver) -> int:
    return chain.get_last_applied_l1_nonce(driver.kv) + 1


def _event(driver: Driver, kind: str, **fields: Any) -> pb.events.L1Event:
    event: pb.events.L1Event = l1_event(_next_nonce(driver), kind, **fields)
    return event


def _in_flight(driver: Driver) -> s.Batch:
    pending = chain.get_pending_settlement(driver.kv)
    assert pending is not None
    record = get_settlement_batch(driver.kv, pending[0])
    assert record is not None
    return s.decode_batch(bytes(record.batch))


def _form_batch(driver: Driver) -> s.Batch:
    """Run blocks until the chain forms a batch."""
    for _ in range(SETTLEMENT_PARAMS["settlement_interval_blocks"]):
        if chain.get_pending_settlement(driver.kv) is None:
            driver.block()
    return _in_flight(driver)


def _settle(driver: Driver) -> s.Batch:
    batch = _in_flight(driver)
    _settle_outcome(driver)
    return batch


def _settle_outcome(driver: Driver) -> chain.BlockOutcome:
    batch = _in_flight(driver)
    outcome = driver.block(l1_events=[_event(driver, "batch_settled", sequencer_id=0,
                                             batch_nonce=str(batch.nonce),
                                             digest=s.compute_batch_digest(batch))])
    assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log
    return outcome


def _withdraw(driver: Driver, sequencer_id: int, amount: int, remaining: int) -> chain.BlockOutcome:
    return driver.block(l1_events=[_event(driver, "withdrawal_requested",
                                          sequencer_id=sequencer_id, amount_wei=str(amount),
                                          remaining_wei=str(remaining))])


def _power(driver: Driver, sequencer_id: int) -> int:
    entries = chain.get_validator_set(driver.kv, driver.height + 2)
    return sum(e.power for e in entries if e.sequencer_id == sequencer_id)


# --- Why: stake escapes a slash ------------------------------------------------------------


def test_slash_escape_power_drops_to_what_both_sides_hold() -> None:
    # Lock 100, 1% downtime slash (99), unjail, then L1 requestWithdrawal(99) leaves 1 on L1
    driver = make_driver([100 * ETH] * 3, min_lock_wei=ETH)
    seq = get_sequencer(driver.kv, 2)
    assert seq is not None
    seq.locked_wei = str(99 * ETH)  # what the downtime slash leaves on the chain
    put_sequencer(driver.kv, seq)
    outcome = _withdraw(driver, 2, 99 * ETH, remaining=ETH)
    assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log
    seq = get_sequencer(driver.kv, 2)
    assert (get_locked(seq), get_l1_locked(seq)) == (0, ETH)
    driver.block()
    assert _power(driver, 2) == 0  # was 99 with 1 at stake


def test_withdrawal_request_is_capped_at_what_the_chain_holds() -> None:
    driver = _driver()
    seq = get_sequencer(driver.kv, 2)
    seq.locked_wei = str(60 * ETH)  # 40 slashed on the chain, not yet settled
    put_sequencer(driver.kv, seq)
    _withdraw(driver, 2, 70 * ETH, remaining=30 * ETH)
    [withdrawal] = get_withdrawals(driver.kv, 2)
    assert withdrawal.amount_wei == str(60 * ETH)
    seq = get_sequencer(driver.kv, 2)
    assert (get_locked(seq), get_l1_locked(seq)) == (0, 30 * ETH)


def test_power_never_exceeds_the_l1_lock() -> None:
    # State changes only in blocks (and genesis): the block's validator diff follows the
    # writes it sees, so the L1 lock is set in genesis rather than edited between blocks.
    sequencers = [genesis_sequencer(i, 100 * ETH) for i in (1, 2, 3)]
    sequencers[2]["l1_locked_wei"] = str(40 * ETH)
    doc = chain.make_genesis_app_state(sequencers, DEFAULT_PARAMS)
    kv = MemoryKV()
    chain.init_chain(kv, json.dumps(doc).encode(), CHAIN_ID, GENESIS_TIME_NS, 1)
    driver = Driver(kv)
    driver.block()
    assert _power(driver, 3) == 40


# --- Why: L1 pays out the full amount of a withdrawal the chain slashed --------------------


def test_slashed_pending_withdrawal_is_released_only_for_its_remainder() -> None:
    driver = _driver()
    _withdraw(driver, 2, 50 * ETH, remaining=50 * ETH)
    # Double sign: 5% of 100 at risk, taken from the pending withdrawal first
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(2),
                                                driver.height, 0, 300)])
    slashes = _form_batch(driver)
    assert slashes.slashes == (s.Slash(2, s.SlashReason.DOUBLE_SIGN, 0, 5 * ETH),)
    assert slashes.releases == ()  # still in its delay
    _settle(driver)
    driver.block(advance_ns=DELAY_NS)
    assert _form_batch(driver).releases == (s.Release(2, 45 * ETH),)
    _settle(driver)
    [withdrawal] = get_withdrawals(driver.kv, 2)
    assert withdrawal.released_on_l1
    outcome = driver.block(l1_events=[_event(driver, "released", sequencer_id=2,
                                             to=b"\x01" * 20, amount_wei=str(45 * ETH))])
    assert outcome.l1_results[0].code == 0
    assert get_withdrawals(driver.kv, 2) == []


# --- Why: a prompt claim gets stuck --------------------------------------------------------


def test_prompt_claim_is_applied_not_refused() -> None:
    driver = _driver()
    _withdraw(driver, 2, 10 * ETH, remaining=90 * ETH)
    # L1 paid before the chain saw the delay pass: a fact, applied at once
    outcome = driver.block(l1_events=[_event(driver, "released", sequencer_id=2,
                                             to=b"\x01" * 20, amount_wei=str(10 * ETH))])
    assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log
    assert get_withdrawals(driver.kv, 2) == []


def test_claim_right_after_settlement_is_applied() -> None:
    driver = _driver()
    _withdraw(driver, 2, 10 * ETH, remaining=90 * ETH)
    driver.block(advance_ns=DELAY_NS)
    _form_batch(driver)
    batch = _in_flight(driver)
    settled = _event(driver, "batch_settled", sequencer_id=0, batch_nonce=str(batch.nonce),
                     digest=s.compute_batch_digest(batch))
    claim = l1_event(settled.nonce + 1, "released", sequencer_id=2, to=b"\x01" * 20,
                     amount_wei=str(10 * ETH))
    outcome = driver.block(l1_events=[settled, claim])
    assert [r.code for r in outcome.l1_results] == [0, 0]
    assert get_withdrawals(driver.kv, 2) == []


# --- Why: rewards rest on a trusted key ----------------------------------------------------


def test_rewards_reach_l1_only_through_a_batch_reward_item() -> None:
    driver = _driver()
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "700"
    put_sequencer(driver.kv, seq)
    batch = _form_batch(driver)
    assert batch.rewards == (s.Reward(1, 700),)
    _settle(driver)
    assert get_sequencer(driver.kv, 1).rewards_settled_wei == "700"
    driver.block()
    driver.block()
    assert chain.get_pending_settlement(driver.kv) is None  # nothing paid twice


# --- batches, signatures, BatchSettled -----------------------------------------------------


def test_batch_is_domain_separated_and_nonce_follows_the_last_settled() -> None:
    driver = _driver()
    get_sequencer(driver.kv, 1)
    _withdraw(driver, 1, ETH, remaining=99 * ETH)
    driver.block(advance_ns=DELAY_NS)
    first = _form_batch(driver)
    assert (first.nonce, first.chain_id, first.verifying_contract) == (1, L1_CHAIN_ID, L1_CONTRACT)
    assert first.lock_params is None
    _settle(driver)
    _withdraw(driver, 1, ETH, remaining=98 * ETH)
    driver.block(advance_ns=DELAY_NS)
    assert _form_batch(driver).nonce == 2


def test_one_batch_in_flight_and_items_bounded() -> None:
    driver = _driver([100 * ETH] * 4, max_settlement_items=2)
    for index in (1, 2, 3):
        seq = get_sequencer(driver.kv, index)
        seq.rewards_accrued_wei = str(index)
        put_sequencer(driver.kv, seq)
    first = _form_batch(driver)
    assert first.rewards == (s.Reward(1, 1), s.Reward(2, 2))
    for _ in range(4):
        driver.block()
    assert _in_flight(driver) == first  # the rest waits for settlement
    _settle(driver)
    assert _form_batch(driver).rewards == (s.Reward(3, 3),)


def test_no_settlement_when_l1_chain_id_is_zero() -> None:
    driver = make_driver([100 * ETH] * 3)
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "5"
    put_sequencer(driver.kv, seq)
    for _ in range(5):
        driver.block()
    assert chain.get_pending_settlement(driver.kv) is None


def _sign(driver: Driver, index: int) -> tuple[bytes, bytes]:
    pending = chain.get_pending_settlement(driver.kv)
    assert pending is not None
    sig = s.sign_digest(pending[1], signer_key(index))
    return sig.signer, sig.r + sig.s + bytes([sig.v])


def _stored(driver: Driver) -> state.SettlementBatch:
    nonce = chain.get_pending_settlement(driver.kv)
    assert nonce is not None
    record = get_settlement_batch(driver.kv, nonce[0])
    assert record is not None
    return record


def test_signatures_are_a_sorted_union_and_complete_past_two_thirds() -> None:
    driver = _driver([100 * ETH] * 4)
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "1"
    put_sequencer(driver.kv, seq)
    _form_batch(driver)
    driver.block(settlement_signatures=[_sign(driver, 2), _sign(driver, 1)])
    driver.block(settlement_signatures=[_sign(driver, 1)])
    signers = [bytes(sig.signer) for sig in _stored(driver).signatures]
    assert signers == sorted({signer_address(1), signer_address(2)})
    answer = chain.decode_query_value(
        "/settlement/pending", chain.query(driver.kv, "/settlement/pending", b"", 0).value)
    assert (answer.complete, answer.signed_stake_wei) == (False, str(200 * ETH))
    driver.block(settlement_signatures=[_sign(driver, 3)])
    answer = chain.decode_query_value(
        "/settlement/pending", chain.query(driver.kv, "/settlement/pending", b"", 0).value)
    assert (answer.complete, answer.total_stake_wei) == (True, str(400 * ETH))
    # 3 of 4 equal stakes: the contract's own rule agrees
    assert s.is_quorum(int(answer.signed_stake_wei), int(answer.total_stake_wei))


def test_batch_settled_for_another_batch_is_a_noop() -> None:
    driver = _driver()
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "1"
    put_sequencer(driver.kv, seq)
    batch = _form_batch(driver)
    outcome = driver.block(l1_events=[_event(driver, "batch_settled", sequencer_id=0,
                                             batch_nonce=str(batch.nonce), digest=b"\x00" * 32)])
    assert outcome.l1_results[0].code == BatchMismatchError.code
    assert chain.get_pending_settlement(driver.kv) is not None


def test_settled_slash_lowers_the_l1_lock_by_its_from_locked() -> None:
    driver = _driver()
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(3),
                                                driver.height, 0, 300)])
    batch = _form_batch(driver)
    assert batch.slashes == (s.Slash(3, s.SlashReason.DOUBLE_SIGN, 5 * ETH, 0),)
    assert get_l1_locked(get_sequencer(driver.kv, 3)) == 100 * ETH
    _settle(driver)
    assert get_l1_locked(get_sequencer(driver.kv, 3)) == 95 * ETH
    record = get_record(driver.kv, keys.slash_key(1), state.SlashRecord)
    assert record is not None and record.settled


def test_settlement_batch_query_by_nonce() -> None:
    driver = _driver()
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "1"
    put_sequencer(driver.kv, seq)
    _form_batch(driver)
    _settle(driver)
    result = chain.query(driver.kv, "/settlement/batch/1", b"", 0)
    answer = chain.decode_query_value("/settlement/batch/1", result.value)
    assert (answer.batch.nonce, answer.batch.status) == (1, state.SETTLEMENT_STATUS_SETTLED)
    assert chain.query(driver.kv, "/settlement/batch/2", b"", 0).code != 0
    assert chain.query(driver.kv, "/settlement/pending", b"", 0).code != 0


# --- a withdrawal queued on L1 while a slash of the same stake is in flight ----------------


@pytest.mark.parametrize("exit_kind", ["withdrawal_requested", "unlock_initiated"])
def test_slash_l1_capped_at_the_lock_is_carried_to_the_withdrawal_queue(exit_kind: str) -> None:
    # Double sign takes 5 of 100 from the lock; the batch carrying it is in flight when the
    # owner moves 98 (or all 100) of L1's lock to the withdrawal queue: L1 can take only
    # what its lock still holds, and the rest sits in its queue, counted by the chain nowhere.
    driver = _driver()
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(3),
                                                driver.height, 0, 300)])
    assert _form_batch(driver).slashes == (s.Slash(3, s.SlashReason.DOUBLE_SIGN, 5 * ETH, 0),)
    if exit_kind == "withdrawal_requested":
        _withdraw(driver, 3, 98 * ETH, remaining=2 * ETH)
        l1_queued, l1_lock_left = 98 * ETH, 2 * ETH
    else:
        driver.block(l1_events=[_event(driver, "unlock_initiated", sequencer_id=3,
                                       amount_wei=str(100 * ETH))])
        l1_queued, l1_lock_left = 100 * ETH, 0
    chain_queued = sum(int(w.amount_wei) for w in get_withdrawals(driver.kv, 3))
    assert chain_queued == 95 * ETH
    totals = get_totals(driver.kv)

    _settle(driver)  # L1 takes min(5, what its lock holds) from the lock
    shortfall = 5 * ETH - l1_lock_left if l1_lock_left < 5 * ETH else 0
    assert get_l1_locked(get_sequencer(driver.kv, 3)) == max(l1_lock_left - 5 * ETH, 0)
    carry = get_record(driver.kv, keys.slash_key(2), state.SlashRecord)
    assert carry is not None
    assert (carry.carries_slash_id, carry.sequencer_id, carry.reason) == (1, 3, "double_sign")
    assert (int(carry.from_locked_wei), int(carry.from_pending_wei)) == (0, shortfall)
    assert get_totals(driver.kv) == totals  # not a new slash

    # The next batch takes the rest from L1's queue, leaving it equal to the chain's
    assert _form_batch(driver).slashes == (s.Slash(3, s.SlashReason.DOUBLE_SIGN, 0, shortfall),)
    _settle(driver)
    assert l1_queued - shortfall == chain_queued
    assert get_record(driver.kv, keys.slash_key(2), state.SlashRecord).settled
    driver.block()
    assert chain.get_pending_settlement(driver.kv) is None  # carried once, not again


def test_a_tombstoned_sequencers_l1_lock_increase_is_applied_so_no_carry_is_invented() -> None:
    # Tombstoned on the chain, still Active on L1: its increaseLock moved tokens there.
    # Refused, l1_locked would fall behind L1's lock and settling the in-flight slash would
    # invent a shortfall, burning from L1's queue stake the owner is owed.
    driver = _driver(double_sign_slash_bps=5000)
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(3),
                                                driver.height, 0, 300)])
    assert _form_batch(driver).slashes[0].from_locked_wei == 50 * ETH  # in flight
    _withdraw(driver, 3, 60 * ETH, remaining=40 * ETH)  # L1: lock 40, queue 60
    outcome = driver.block(l1_events=[_event(driver, "lock_increased", sequencer_id=3,
                                             amount_wei=str(30 * ETH),
                                             new_total_wei=str(70 * ETH))])
    assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log
    seq = get_sequencer(driver.kv, 3)
    assert (get_locked(seq), get_l1_locked(seq)) == (30 * ETH, 70 * ETH)
    assert _power(driver, 3) == 0  # tombstoned: the stake can leave, never sign again
    totals = get_totals(driver.kv)
    outcome = _settle_outcome(driver)  # L1 takes all 50 from its lock of 70
    assert get_record(driver.kv, keys.slash_key(2), state.SlashRecord) is None  # no carry
    # The 10 the chain could not queue then (its lock was 50, L1 queued 60) sits in L1's
    # queue, and the chain's lock of 30 is 10 above L1's 20: the chain queues it now.
    seq = get_sequencer(driver.kv, 3)
    assert (get_locked(seq), get_l1_locked(seq)) == (20 * ETH, 20 * ETH)
    assert sum(int(w.amount_wei) for w in get_withdrawals(driver.kv, 3)) == 60 * ETH
    [settled] = [e for e in outcome.l1_results[0].events if e.type == "settlement_batch_settled"]
    assert ("queued_withdrawal_ids", "2") in settled.attributes
    assert get_totals(driver.kv) == {**totals, "total_locked_wei": totals["total_locked_wei"]
                                     - 10 * ETH, "total_pending_wei":
                                     totals["total_pending_wei"] + 10 * ETH}


class SlashReadCountingKV(MemoryKV):
    """Counts the slash records read, by key or by iteration."""

    def __init__(self) -> None:
        super().__init__()
        self.slash_reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.slash_reads += key.startswith(keys.SLASH_PREFIX)
        return super().get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for item in super().iterate(prefix, start):
            self.slash_reads += item[0].startswith(keys.SLASH_PREFIX)
            yield item


def test_forming_a_batch_reads_the_unbatched_slashes_not_every_slash() -> None:
    driver = _driver()
    counting = SlashReadCountingKV()
    for key, value in driver.kv.items().items():
        counting.set(key, value)
    for slash_id in range(1, 501):  # history: settled long ago
        put_record(counting, keys.slash_key(slash_id), state.SlashRecord(
            id=slash_id, sequencer_id=1, reason="downtime", from_locked_wei="1",
            from_pending_wei="0", batch_nonce=1, settled=True))
    chain_state = get_chain_state(counting)
    chain_state.next_slash_id = 501
    put_chain_state(counting, chain_state)
    driver.kv = counting
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(3),
                                                driver.height, 0, 300)])
    counting.slash_reads = 0
    assert _form_batch(driver).slashes == (s.Slash(3, s.SlashReason.DOUBLE_SIGN, 5 * ETH, 0),)
    assert counting.slash_reads <= 10
