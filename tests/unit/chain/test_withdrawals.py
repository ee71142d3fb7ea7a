"""The withdrawal queue: slashable during the delay, releasable after, paid out on Released."""

from abci_app.chain.state import get_sequencer, get_totals
from abci_app.chain.withdrawals import get_withdrawals, process_withdrawal_queue
from abci_app.errors import ReleaseExceedsReleasableError
from tests.unit.chain.helpers import ETH, l1_event, make_driver, owner_address

DELAY_NS = 100 * 10**9


def test_withdrawal_becomes_releasable_exactly_at_delay_end() -> None:
    driver = make_driver([10 * ETH])
    driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(ETH))])
    [withdrawal] = get_withdrawals(driver.kv)
    assert withdrawal.releasable_at_ns == driver.time_ns + DELAY_NS
    assert process_withdrawal_queue(driver.kv, withdrawal.releasable_at_ns - 1) == []
    events = process_withdrawal_queue(driver.kv, withdrawal.releasable_at_ns)
    assert [e.type for e in events] == ["withdrawal_releasable"]
    assert get_withdrawals(driver.kv)[0].releasable


def test_release_pays_oldest_withdrawal_first_and_keeps_the_rest() -> None:
    driver = make_driver([10 * ETH])
    driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(2 * ETH)),
        l1_event(2, "withdrawal_requested", sequencer_id=1, amount_wei=str(3 * ETH))])
    driver.block(advance_ns=DELAY_NS)
    outcome = driver.block(l1_events=[
        l1_event(3, "released", sequencer_id=1, to=owner_address(1), amount_wei=str(3 * ETH))])
    assert outcome.l1_results[0].code == 0
    assert [w.amount_wei for w in get_withdrawals(driver.kv)] == [str(2 * ETH)]
    totals = get_totals(driver.kv)
    assert (totals["total_pending_wei"], totals["total_released_wei"]) == (2 * ETH, 3 * ETH)


def test_invalid_release_larger_than_releasable_changes_nothing() -> None:
    driver = make_driver([10 * ETH])
    driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(2 * ETH))])
    driver.block(advance_ns=DELAY_NS)
    before = get_totals(driver.kv)
    outcome = driver.block(l1_events=[
        l1_event(2, "released", sequencer_id=1, to=owner_address(1), amount_wei=str(2 * ETH + 1))])
    assert outcome.l1_results[0].code == ReleaseExceedsReleasableError.code
    assert get_withdrawals(driver.kv)[0].amount_wei == str(2 * ETH)
    assert get_totals(driver.kv) == before
    assert get_sequencer(driver.kv, 1).locked_wei == str(8 * ETH)
