"""Rotation: stake-weighted producer per epoch, re-election on silence, producer faults, rewards."""

import hashlib

import pytest

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.schedule import (
    compute_epoch_of,
    compute_fallback_seed,
    compute_producer,
    get_current_producer,
    get_epoch_schedule,
    get_sequencer_at,
)
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    get_chain_state,
    get_records,
    get_sequencer,
    get_totals,
    put_sequencer,
)
from abci_app.errors import QueryNotFoundError
from abci_app.valset import ValidatorEntry
from tests.unit.chain.helpers import (
    ETH,
    Driver,
    consensus_pubkey,
    make_driver,
    make_l2_driver,
    make_l2_header,
)

TIMEOUT_NS = 60 * 10**9
JAIL_NS = 600 * 10**9


def _producer(driver: Driver) -> int:
    epoch = get_chain_state(driver.kv).current_epoch
    return get_current_producer(get_epoch_schedule(driver.kv, epoch))


def _entries(powers: list[int]) -> list[ValidatorEntry]:
    return [ValidatorEntry(b"", b"", p, i + 1) for i, p in enumerate(powers)]


def _types(outcome: chain.BlockOutcome) -> list[str]:
    return [e.type for e in outcome.events]


def test_producer_selection_is_stake_weighted() -> None:
    candidates = _entries([3, 1])
    picks = [compute_producer(hashlib.sha256(b"%d" % i).digest(), candidates) for i in range(4000)]
    share = picks.count(1) / len(picks)
    assert 0.70 < share < 0.80


def test_producer_selection_is_deterministic_and_empty_safe() -> None:
    seed = compute_fallback_seed(b"\x01" * 32, 7)
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


def test_epoch_advances_when_its_last_l2_block_is_attested() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH, 30 * ETH])
    p = _producer(driver)
    assert "epoch_started" not in _types(driver.block(produce=9))
    outcome = driver.block(produce=1)
    assert ("epoch", "1") in [a for e in outcome.events if e.type == "epoch_started"
                              for a in e.attributes]
    assert get_chain_state(driver.kv).current_epoch == 1
    lookahead = get_epoch_schedule(driver.kv, 3)
    assert lookahead is not None and not lookahead.seed  # snapshot, waiting for its seed
    assert get_sequencer_at(driver.kv, 5) == (0, p)


def test_rewards_are_credited_to_producer_when_epoch_closes() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH])
    p = _producer(driver)
    driver.block(produce=4)
    assert get_sequencer(driver.kv, p).rewards_accrued_wei == "0"
    driver.block(produce=6)
    assert get_sequencer(driver.kv, p).rewards_accrued_wei == str(10 * 1000)
    assert get_totals(driver.kv)["total_rewards_accrued_wei"] == 10 * 1000


def run_out_the_clock(driver: Driver) -> chain.BlockOutcome:
    """Blocks (no gap long enough to look like a chain halt) until the rotation timeout
    has passed since the last progress; the last block attests, so a fault may fire."""
    driver.block(advance_ns=TIMEOUT_NS - 10**9)
    return driver.block(advance_ns=10**9, l1_confirmed_height=1)


def test_silent_producer_is_replaced_and_faulted_after_timeout() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(advance_ns=TIMEOUT_NS - 10**9)
    assert _producer(driver) == p
    outcome = driver.block(advance_ns=10**9, l1_confirmed_height=1)  # attestation flows
    assert _producer(driver) != p
    assert get_sequencer(driver.kv, p).missed_productions == 1
    assert "producer_reelected" in _types(outcome)
    assert get_sequencer_at(driver.kv, 1)[1] == _producer(driver)


def test_producer_fault_slashes_and_producer_jails_but_keeps_the_validator() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    outcome = run_out_the_clock(driver)
    assert "producer_fault" in _types(outcome)
    seq = get_sequencer(driver.kv, p)
    assert seq.status == ACTIVE and seq.jailed_until_ns == 0
    assert seq.producer_jailed_until_ns == driver.time_ns + JAIL_NS
    slashes = get_records(driver.kv, keys.SLASH_PREFIX, state.SlashRecord)
    assert [(s.sequencer_id, s.reason, s.fraction_bps) for s in slashes] == [
        (p, "missed_production", 10)]
    assert seq.locked_wei == str(10 * ETH - 10 * ETH * 10 // 10_000)
    # CometBFT keeps it, with the slash's small power loss (9.99 ETH -> power 9) only.
    assert outcome.validator_updates == [chain.ValidatorUpdate(consensus_pubkey(p), 9)]
    assert p in {e.sequencer_id for e in chain.get_validator_set(driver.kv, driver.height + 2)}


def test_producer_jailed_sequencer_is_no_candidate_until_its_jail_ends() -> None:
    driver = make_l2_driver([10 * ETH])
    run_out_the_clock(driver)
    assert _producer(driver) == 0  # the only sequencer is out of the rotation
    assert get_sequencer(driver.kv, 1).status == ACTIVE
    for _ in range(3):  # no producer: no more faults
        assert "producer_fault" not in _types(driver.block(advance_ns=TIMEOUT_NS))
    driver.block(advance_ns=JAIL_NS)
    assert _producer(driver) == 1
    assert get_sequencer(driver.kv, 1).missed_productions == 1


def test_progress_before_timeout_keeps_the_producer() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(produce=1, advance_ns=TIMEOUT_NS - 10**9)
    driver.block(advance_ns=TIMEOUT_NS - 10**9)
    assert _producer(driver) == p


def test_reelection_keeps_earlier_blocks_with_the_old_producer() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    driver.block(produce=3)
    run_out_the_clock(driver)
    q = _producer(driver)
    assert q != p
    assert get_sequencer_at(driver.kv, 3)[1] == p
    assert get_sequencer_at(driver.kv, 4)[1] == q


def test_jailed_producer_is_replaced_without_a_fault() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH])
    p = _producer(driver)
    seq = get_sequencer(driver.kv, p)
    seq.status = JAILED
    put_sequencer(driver.kv, seq)
    driver.block()
    assert _producer(driver) not in (p, 0)
    assert get_sequencer(driver.kv, p).missed_productions == 0


def test_no_l2_runs_many_timeouts_and_faults_nobody() -> None:
    driver = make_driver([10 * ETH, 10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    for _ in range(20):
        outcome = driver.block(advance_ns=TIMEOUT_NS)
        assert outcome.validator_updates == []
        assert not {"producer_fault", "producer_reelected", "rewards_accrued"} & set(
            _types(outcome))
    assert _producer(driver) == p
    assert get_records(driver.kv, keys.SLASH_PREFIX, state.SlashRecord) == []
    assert all(get_sequencer(driver.kv, i).missed_productions == 0 for i in (1, 2, 3, 4))
    assert sorted(e.power for e in chain.get_validator_set(driver.kv, driver.height)) == [10] * 4
    assert chain.get_l2_head(driver.kv) is None
    assert chain.get_seed_request(driver.kv) == 0
    skipped = driver.block(l2_headers=[make_l2_header(1, b"\x01" * 20)])
    assert "l2_headers_skipped" in _types(skipped)
    assert get_chain_state(driver.kv).last_l2_height == 0


def test_sequencer_at_far_future_is_not_found() -> None:
    driver = make_l2_driver([10 * ETH])
    with pytest.raises(QueryNotFoundError):
        get_sequencer_at(driver.kv, 1000)
    assert chain.query(driver.kv, "/sequencer_at/1000", b"", 0).code == QueryNotFoundError.code
    with pytest.raises(QueryNotFoundError):
        get_sequencer_at(driver.kv, 21)  # epoch 2: snapshot taken, seed not yet known
