"""Validator updates: a diff against the last set sent, valid for CometBFT, effective at H+2."""

from abci_app import chain
from abci_app.chain.messages import state
from abci_app.chain.params import Params
from abci_app.chain.state import JAILED, get_sequencer, put_sequencer
from abci_app.chain.validators import (
    MAX_TOTAL_VOTING_POWER,
    compute_validator_diff,
    compute_validator_set,
)
from abci_app.valset import ValidatorEntry
from tests.unit.chain.helpers import (
    ETH,
    consensus_pubkey,
    l1_event,
    l1_locked,
    make_driver,
)


def _seq(i: int, locked: int, status: int = state.SEQUENCER_STATUS_ACTIVE) -> state.Sequencer:
    return state.Sequencer(id=i, consensus_pubkey=consensus_pubkey(i), locked_wei=str(locked),
                           l1_locked_wei=str(locked), status=status)


def test_set_is_ordered_by_power_then_id_and_capped() -> None:
    params = Params(max_validators=3)
    seqs = [_seq(1, 5 * ETH), _seq(2, 9 * ETH), _seq(3, 5 * ETH), _seq(4, 7 * ETH),
            _seq(5, 9 * ETH, state.SEQUENCER_STATUS_JAILED), _seq(6, ETH - 1)]
    assert [e.sequencer_id for e in compute_validator_set(seqs, params)] == [2, 4, 1]


def test_power_is_capped_under_cometbft_total_limit() -> None:
    params = Params(max_validators=2, power_reduction=1)
    entries = compute_validator_set([_seq(1, 2**200), _seq(2, 2**200)], params)
    assert sum(e.power for e in entries) <= MAX_TOTAL_VOTING_POWER


def test_diff_lists_removals_as_zero_and_only_changes() -> None:
    old = [ValidatorEntry(b"a", b"A", 5, 1), ValidatorEntry(b"b", b"B", 3, 2)]
    new = [ValidatorEntry(b"b", b"B", 4, 2), ValidatorEntry(b"c", b"C", 1, 3)]
    assert compute_validator_diff(old, new) == [
        chain.ValidatorUpdate(b"A", 0), chain.ValidatorUpdate(b"B", 4),
        chain.ValidatorUpdate(b"C", 1)]
    assert compute_validator_diff(new, new) == []


def test_new_sequencer_joins_at_height_plus_two() -> None:
    driver = make_driver([10 * ETH])
    outcome = driver.block(l1_events=[l1_locked(1, 2, 4 * ETH)])
    assert outcome.validator_updates == [chain.ValidatorUpdate(consensus_pubkey(2), 4)]
    assert len(chain.get_validator_set(driver.kv, 2)) == 1
    assert len(chain.get_validator_set(driver.kv, 3)) == 2


def test_partial_withdrawal_drops_power_at_once() -> None:
    driver = make_driver([10 * ETH])
    outcome = driver.block(l1_events=[
        l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(6 * ETH))])
    assert outcome.validator_updates == [chain.ValidatorUpdate(consensus_pubkey(1), 4)]


def test_jailing_the_last_validator_keeps_the_set_non_empty() -> None:
    driver = make_driver([10 * ETH])
    seq = get_sequencer(driver.kv, 1)
    seq.status = JAILED
    put_sequencer(driver.kv, seq)
    outcome = driver.block()
    assert outcome.validator_updates == []
    assert any(e.type == "validator_set_kept" for e in outcome.events)
    assert len(chain.get_validator_set(driver.kv, 3)) == 1


def test_removed_validator_gets_power_zero_once() -> None:
    driver = make_driver([10 * ETH, 10 * ETH])
    outcome = driver.block(l1_events=[l1_event(1, "unlock_initiated", sequencer_id=2)])
    assert outcome.validator_updates == [chain.ValidatorUpdate(consensus_pubkey(2), 0)]
    assert driver.block().validator_updates == []


def test_history_keeps_sets_back_to_height_minus_two() -> None:
    driver = make_driver([10 * ETH])
    for i in range(2, 6):
        driver.block(l1_events=[l1_locked(i - 1, i, i * ETH)])
    for _ in range(4):
        driver.block()
    h = driver.height
    assert [len(chain.get_validator_set(driver.kv, x)) for x in (h - 2, h - 1, h, h + 1)] == \
        [5, 5, 5, 5]
    assert chain.get_validator_set(driver.kv, 1) == []  # pruned
