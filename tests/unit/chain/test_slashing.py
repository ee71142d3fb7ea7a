"""Downtime and double-sign slashing, jailing, tombstoning and unjail."""

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    TOMBSTONED,
    get_locked,
    get_records,
    get_sequencer,
    get_totals,
    put_sequencer,
)
from abci_app.chain.withdrawals import get_withdrawals
from abci_app.errors import (
    InsufficientLockError,
    JailPeriodNotOverError,
    NotJailedError,
    TombstonedError,
)
from tests.unit.chain.helpers import (
    ETH,
    Driver,
    consensus_address,
    l1_event,
    make_driver,
    make_unjail_tx,
)

JAIL_NS = 600 * 10**9


def _votes(driver: Driver, absent: int) -> list[chain.VoteInfo]:
    return [chain.VoteInfo(e.address, e.power, e.sequencer_id != absent)
            for e in chain.get_validator_set(driver.kv, driver.height)]


def _double_sign(driver: Driver, index: int, height: int) -> list[chain.Misbehavior]:
    return [chain.Misbehavior("duplicate_vote", consensus_address(index), height, 0, 30)]


def _slashes(driver: Driver) -> list[state.SlashRecord]:
    return get_records(driver.kv, keys.SLASH_PREFIX, state.SlashRecord)


def _jail_for_downtime(driver: Driver, index: int) -> None:
    for _ in range(11):
        driver.block(votes=_votes(driver, absent=index))


def test_downtime_over_window_jails_and_slashes() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    _jail_for_downtime(driver, 2)
    seq = get_sequencer(driver.kv, 2)
    assert seq.status == JAILED
    assert get_locked(seq) == 99 * ETH  # 100 bps, rounded down
    [record] = _slashes(driver)
    assert (record.reason, record.from_locked_wei) == ("downtime", str(ETH))
    assert get_totals(driver.kv)["total_slashed_wei"] == ETH


def test_missing_up_to_tolerance_is_not_punished() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    for i in range(30):
        driver.block(votes=_votes(driver, absent=2 if i % 2 else 0))
    assert get_sequencer(driver.kv, 2).status == ACTIVE
    assert _slashes(driver) == []


def test_unknown_vote_address_is_ignored() -> None:
    driver = make_driver([100 * ETH])
    outcome = driver.block(votes=[chain.VoteInfo(b"\x09" * 20, 5, False)])
    assert [e.type for e in outcome.events] == ["vote_ignored"]


def test_double_sign_slashes_more_and_tombstones() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    driver.block()
    outcome = driver.block(misbehavior=_double_sign(driver, 2, 1))
    seq = get_sequencer(driver.kv, 2)
    assert seq.status == TOMBSTONED
    assert get_locked(seq) == 95 * ETH
    assert any(e.type == "double_sign_slash" for e in outcome.events)
    assert outcome.validator_updates[0].power == 0


def test_repeat_evidence_for_tombstoned_validator_is_ignored() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    driver.block(misbehavior=_double_sign(driver, 2, 1))
    outcome = driver.block(misbehavior=_double_sign(driver, 2, 1))
    assert [e.type for e in outcome.events if e.type.startswith("evidence")] == ["evidence_ignored"]
    assert len(_slashes(driver)) == 1


def test_unknown_and_stale_evidence_is_ignored() -> None:
    driver = make_driver([100 * ETH, 100 * ETH], max_evidence_age_blocks=2)
    for _ in range(5):
        driver.block()
    outcome = driver.block(misbehavior=[
        chain.Misbehavior("duplicate_vote", b"\x07" * 20, 5, 0, 1),
        chain.Misbehavior("duplicate_vote", consensus_address(2), 1, 0, 1),
        chain.Misbehavior("bogus", consensus_address(2), 5, 0, 1),
    ])
    assert [e.type for e in outcome.events] == ["evidence_ignored"] * 3
    assert _slashes(driver) == []


def test_slash_during_withdrawal_delay_takes_pending_amount_first() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=2, amount_wei=str(ETH))])
    driver.block(misbehavior=_double_sign(driver, 2, 1))
    [record] = _slashes(driver)
    assert record.from_pending_wei == str(ETH)  # 5% of 100 ETH at risk = 5 ETH, 1 from pending
    assert record.from_locked_wei == str(4 * ETH)
    assert get_withdrawals(driver.kv, 2) == []
    totals = get_totals(driver.kv)
    assert (totals["total_pending_wei"], totals["total_slashed_wei"]) == (0, 5 * ETH)


def test_releasable_withdrawal_is_no_longer_slashable() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=2, amount_wei=str(10 * ETH))])
    driver.block(advance_ns=100 * 10**9)
    driver.block(misbehavior=_double_sign(driver, 2, 1))
    [record] = _slashes(driver)
    assert record.from_pending_wei == "0"
    assert get_withdrawals(driver.kv, 2)[0].amount_wei == str(10 * ETH)


def test_unjail_after_jail_time_reactivates() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    _jail_for_downtime(driver, 2)
    early = driver.block(txs=[make_unjail_tx(2, 0, 2)])
    assert early.tx_results[0].code == JailPeriodNotOverError.code
    outcome = driver.block(txs=[make_unjail_tx(2, 1, 2)], advance_ns=JAIL_NS)
    assert outcome.tx_results[0].code == 0
    assert get_sequencer(driver.kv, 2).status == ACTIVE
    assert outcome.validator_updates[0].power == 99


def test_invalid_unjail_of_active_sequencer_is_rejected() -> None:
    driver = make_driver([100 * ETH])
    assert driver.block(txs=[make_unjail_tx(1, 0, 1)]).tx_results[0].code == NotJailedError.code


def test_invalid_unjail_of_tombstoned_sequencer_is_rejected() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    driver.block(misbehavior=_double_sign(driver, 2, 1))
    outcome = driver.block(txs=[make_unjail_tx(2, 0, 2)], advance_ns=10**18)
    assert outcome.tx_results[0].code == TombstonedError.code


def test_invalid_unjail_below_min_lock_is_rejected() -> None:
    driver = make_driver([100 * ETH, 100 * ETH])
    seq = get_sequencer(driver.kv, 2)
    seq.status, seq.locked_wei = JAILED, str(ETH - 1)
    put_sequencer(driver.kv, seq)
    outcome = driver.block(txs=[make_unjail_tx(2, 0, 2)])
    assert outcome.tx_results[0].code == InsufficientLockError.code
