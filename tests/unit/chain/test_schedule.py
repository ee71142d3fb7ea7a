"""Rotation: stake-weighted producer per epoch, re-election on silence, rewards per epoch."""

import hashlib

import pytest

from abci_app import chain
from abci_app.chain.schedule import (
    compute_epoch_of,
    compute_epoch_seed,
    compute_producer,
    get_current_producer,
    get_epoch_schedule,
    get_sequencer_at,
)
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    get_chain_state,
    get_sequencer,
    get_totals,
    put_sequencer,
)
from abci_app.errors import QueryNotFoundError
from abci_app.valset import ValidatorEntry
from tests.unit.chain.helpers import (
    ETH,
    Driver,
    make_driver,
    make_l2_progress_tx,
)

TIMEOUT_NS = 60 * 10**9


def _producer(driver: Driver) -> int:
    epoch = get_chain_state(driver.kv).current_epoch
    return get_current_producer(get_epoch_schedule(driver.kv, epoch))


def _entries(powers: list[int]) -> list[ValidatorEntry]:
    return [ValidatorEntry(b"", b"", p, i + 1) for i, p in enumerate(powers)]


def test_producer_selection_is_stake_weighted() -> None:
    candidates = _entries([3, 1])
    picks = [compute_producer(hashlib.sha256(b"%d" % i).digest(), candidates) for i in range(4000)]
    share = picks.count(1) / len(picks)
    assert 0.70 < share < 0.80


def test_producer_selection_is_deterministic_and_empty_safe() -> None:
    seed = compute_epoch_seed(b"\x01" * 32, 7)
    candidates = _entries([5, 5, 5])
    assert compute_producer(seed, candidates) == compute_producer(seed, list(candidates))
    assert compute_producer(seed, []) == 0


def test_prefix_boundaries_pick_the_right_candidate() -> None:
    candidates = _entries([2, 3])
    assert compute_producer((0).to_bytes(32, "big"), candidates) == 1
    assert compute_producer((1).to_bytes(32, "big"), candidates) == 1
    assert compute_producer((2).to_bytes(32, "big"), candidates) == 2
    assert compute_producer((4).to_bytes(32, "big"), candidates) == 2


def test_epoch_of_l2_height() -> None:
    assert [compute_epoch_of(h, 10) for h in (1, 10, 11, 20, 21)] == [0, 0, 1, 1, 2]


def test_epoch_advances_when_its_l2_blocks_are_reported() -> None:
    driver = make_driver([10 * ETH, 20 * ETH, 30 * ETH])
    p = _producer(driver)
    outcome = driver.block(txs=[make_l2_progress_tx(p, 0, p, 10)])
    assert ("epoch", "1") in [a for e in outcome.events if e.type == "epoch_started"
                              for a in e.attributes]
    assert get_chain_state(driver.kv).current_epoch == 1
    assert get_epoch_schedule(driver.kv, 2) is not None  # lookahead
    assert get_sequencer_at(driver.kv, 5) == (0, p)


def test_rewards_are_credited_to_producer_when_epoch_closes() -> None:
    driver = make_driver([10 * ETH, 20 * ETH])
    p = _producer(driver)
    driver.block(txs=[make_l2_progress_tx(p, 0, p, 4)])
    assert get_sequencer(driver.kv, p).rewards_accrued_wei == "0"
    driver.block(txs=[make_l2_progress_tx(p, 1, p, 10)])
    assert get_sequencer(driver.kv, p).rewards_accrued_wei == str(10 * 1000)
    assert get_totals(driver.kv)["total_rewards_accrued_wei"] == 10 * 1000


def test_silent_producer_is_replaced_and_faulted_after_timeout() -> None:
    driver = make_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(advance_ns=TIMEOUT_NS - 10**9)
    assert _producer(driver) == p
    outcome = driver.block(advance_ns=10**9)
    assert _producer(driver) != p
    assert get_sequencer(driver.kv, p).missed_productions == 1
    assert any(e.type == "producer_reelected" for e in outcome.events)
    assert get_sequencer_at(driver.kv, 1)[1] == _producer(driver)


def test_progress_before_timeout_keeps_the_producer() -> None:
    driver = make_driver([10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(txs=[make_l2_progress_tx(p, 0, p, 1)], advance_ns=TIMEOUT_NS - 10**9)
    driver.block(advance_ns=TIMEOUT_NS - 10**9)
    assert _producer(driver) == p


def test_reelection_keeps_earlier_blocks_with_the_old_producer() -> None:
    driver = make_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(txs=[make_l2_progress_tx(p, 0, p, 3)])
    driver.block(advance_ns=TIMEOUT_NS)
    q = _producer(driver)
    assert q != p
    assert get_sequencer_at(driver.kv, 3)[1] == p
    assert get_sequencer_at(driver.kv, 4)[1] == q


def test_repeated_missed_production_jails() -> None:
    driver = make_driver([10 * ETH])
    for _ in range(3):
        driver.block(advance_ns=TIMEOUT_NS)
    seq = get_sequencer(driver.kv, 1)
    assert seq.status == JAILED
    assert _producer(driver) == 0  # nobody eligible: the L2 waits for an unjail


def test_jailed_producer_is_replaced_without_a_fault() -> None:
    driver = make_driver([10 * ETH, 10 * ETH])
    p = _producer(driver)
    seq = get_sequencer(driver.kv, p)
    seq.status = JAILED
    put_sequencer(driver.kv, seq)
    driver.block()
    assert _producer(driver) not in (p, 0)
    assert get_sequencer(driver.kv, p).missed_productions == 0


def test_unjailed_sequencer_becomes_producer_when_nobody_else_can() -> None:
    driver = make_driver([10 * ETH])
    for _ in range(3):
        driver.block(advance_ns=TIMEOUT_NS)
    seq = get_sequencer(driver.kv, 1)
    seq.status = ACTIVE
    put_sequencer(driver.kv, seq)
    driver.block()
    assert _producer(driver) == 1


def test_sequencer_at_far_future_is_not_found() -> None:
    driver = make_driver([10 * ETH])
    with pytest.raises(QueryNotFoundError):
        get_sequencer_at(driver.kv, 1000)
    assert chain.query(driver.kv, "/sequencer_at/1000", b"", 0).code == QueryNotFoundError.code
