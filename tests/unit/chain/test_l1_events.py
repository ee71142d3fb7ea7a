"""Attested L1 events: strict nonce order, and a recorded no-op for unusable events."""

import pytest

from abci_app import chain, pb
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.state import (
    ACTIVE,
    EXITED,
    TOMBSTONED,
    UNLOCKING,
    get_locked,
    get_record,
    get_sequencer,
    get_totals,
    put_sequencer,
)
from abci_app.chain.withdrawals import get_withdrawals
from abci_app.errors import (
    ClaimExceedsRewardsError,
    ConsensusKeyInUseError,
    EmptyL1EventError,
    InsufficientLockError,
    InvalidAmountError,
    InvalidFieldError,
    L1NonceDuplicateError,
    L1NonceGapError,
    NotActiveError,
    ReleaseExceedsReleasableError,
    SequencerExistsError,
    UnknownSequencerError,
)
from tests.unit.chain.helpers import (
    ETH,
    Driver,
    consensus_pubkey,
    l1_event,
    l1_locked,
    make_driver,
    owner_address,
    signer_address,
)


@pytest.fixture
def driver() -> Driver:
    return make_driver([10 * ETH])


def _apply(driver: Driver, *events: pb.events.L1Event) -> list[int]:
    return [r.code for r in driver.block(l1_events=list(events)).l1_results]


def _noop(driver: Driver, nonce: int) -> state.L1Noop:
    return get_record(driver.kv, keys.l1_noop_key(nonce), state.L1Noop)


def test_locked_creates_an_active_sequencer_and_counts_stake(driver: Driver) -> None:
    assert _apply(driver, l1_locked(1, 2, 5 * ETH)) == [0]
    seq = get_sequencer(driver.kv, 2)
    assert (seq.status, get_locked(seq), bytes(seq.signer)) == (ACTIVE, 5 * ETH, signer_address(2))
    assert get_totals(driver.kv)["total_locked_ever_wei"] == 15 * ETH
    assert chain.get_last_applied_l1_nonce(driver.kv) == 1


def test_invalid_nonce_gap_is_skipped_and_not_applied(driver: Driver) -> None:
    assert _apply(driver, l1_locked(2, 2, 5 * ETH)) == [L1NonceGapError.code]
    assert get_sequencer(driver.kv, 2) is None
    assert chain.get_last_applied_l1_nonce(driver.kv) == 0


def test_invalid_duplicate_nonce_is_not_applied_twice(driver: Driver) -> None:
    inc = l1_event(2, "lock_increased", sequencer_id=1, amount_wei=str(ETH))
    assert _apply(driver, l1_locked(1, 2, 5 * ETH), inc, inc) == [0, 0, L1NonceDuplicateError.code]
    assert get_locked(get_sequencer(driver.kv, 1)) == 11 * ETH


@pytest.mark.parametrize(("event", "code"), [
    (l1_locked(1, 1, 5 * ETH), SequencerExistsError.code),
    (l1_locked(1, 2, ETH // 2), InsufficientLockError.code),
    (l1_locked(1, 0, 5 * ETH), InvalidFieldError.code),
    (pb.events.L1Event(nonce=1, locked=pb.events.Locked(
        sequencer_id=2, owner=owner_address(2), signer=signer_address(2),
        consensus_pubkey=consensus_pubkey(1), amount_wei=str(5 * ETH))),
     ConsensusKeyInUseError.code),
    (pb.events.L1Event(nonce=1, locked=pb.events.Locked(
        sequencer_id=2, owner=b"\x01" * 19, signer=signer_address(2),
        consensus_pubkey=consensus_pubkey(2), amount_wei=str(5 * ETH))), InvalidFieldError.code),
    (pb.events.L1Event(nonce=1, locked=pb.events.Locked(
        sequencer_id=2, owner=owner_address(2), signer=signer_address(2),
        consensus_pubkey=b"\x01" * 33, amount_wei=str(5 * ETH))), InvalidFieldError.code),
    (pb.events.L1Event(nonce=1, locked=pb.events.Locked(
        sequencer_id=2, owner=owner_address(2), signer=signer_address(2),
        consensus_pubkey=consensus_pubkey(2), amount_wei="05")), InvalidAmountError.code),
    (l1_event(1, "lock_increased", sequencer_id=9, amount_wei="1"), UnknownSequencerError.code),
    (l1_event(1, "lock_increased", sequencer_id=1, amount_wei="0"), InvalidAmountError.code),
    (l1_event(1, "lock_increased", sequencer_id=1, amount_wei="-1"), InvalidAmountError.code),
    (l1_event(1, "signer_changed", sequencer_id=1, new_signer=b"\x01"), InvalidFieldError.code),
    (l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(ETH),
              remaining_wei="-1"), InvalidAmountError.code),
    (l1_event(1, "released", sequencer_id=1, to=b"\x01" * 20, amount_wei="1"),
     ReleaseExceedsReleasableError.code),
    (l1_event(1, "rewards_claimed", sequencer_id=1, to=b"\x01" * 20, amount_wei="1"),
     ClaimExceedsRewardsError.code),
    (pb.events.L1Event(nonce=1), EmptyL1EventError.code),
])
def test_invalid_event_consumes_nonce_and_records_noop(
    driver: Driver, event: pb.events.L1Event, code: int
) -> None:
    before = get_totals(driver.kv)
    assert _apply(driver, event) == [code]
    assert chain.get_last_applied_l1_nonce(driver.kv) == 1
    assert _noop(driver, 1).code == code
    assert get_totals(driver.kv) == before


def test_partial_withdrawal_below_min_lock_is_a_fact(driver: Driver) -> None:
    # L1 moved the tokens: the chain applies it and the sequencer leaves the set
    _apply(driver, l1_locked(1, 2, 5 * ETH))
    event = l1_event(2, "withdrawal_requested", sequencer_id=1, amount_wei=str(9 * ETH + 1))
    assert _apply(driver, event) == [0]
    assert get_locked(get_sequencer(driver.kv, 1)) == ETH - 1
    driver.block()
    assert [e.sequencer_id for e in chain.get_validator_set(driver.kv, driver.height + 2)] == [2]


def test_withdrawal_beyond_the_chain_lock_is_capped(driver: Driver) -> None:
    event = l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(11 * ETH))
    assert _apply(driver, event) == [0]
    [withdrawal] = get_withdrawals(driver.kv)
    assert withdrawal.amount_wei == str(10 * ETH)


def test_partial_withdrawal_down_to_min_lock_is_queued(driver: Driver) -> None:
    event = l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(9 * ETH))
    assert _apply(driver, event) == [0]
    assert get_locked(get_sequencer(driver.kv, 1)) == ETH
    [withdrawal] = get_withdrawals(driver.kv)
    assert (withdrawal.amount_wei, withdrawal.releasable) == (str(9 * ETH), False)
    assert get_totals(driver.kv)["total_pending_wei"] == 9 * ETH


def test_unlock_initiated_moves_whole_lock_and_then_release_exits(driver: Driver) -> None:
    _apply(driver, l1_locked(1, 2, 5 * ETH))
    assert _apply(driver, l1_event(2, "unlock_initiated", sequencer_id=2,
                                   amount_wei=str(5 * ETH))) == [0]
    seq = get_sequencer(driver.kv, 2)
    assert (seq.status, get_locked(seq)) == (UNLOCKING, 0)
    driver.block(advance_ns=100 * 10**9)  # withdrawal_delay_s = 100
    assert get_withdrawals(driver.kv, 2)[0].releasable
    release = l1_event(3, "released", sequencer_id=2, to=owner_address(2), amount_wei=str(5 * ETH))
    assert _apply(driver, release) == [0]
    assert get_sequencer(driver.kv, 2).status == EXITED
    assert get_totals(driver.kv)["total_released_wei"] == 5 * ETH


def test_release_before_delay_ends_is_applied(driver: Driver) -> None:
    # L1 pays only what settlement released: a claim is a fact, never refused for timing
    _apply(driver, l1_event(1, "withdrawal_requested", sequencer_id=1, amount_wei=str(ETH)))
    release = l1_event(2, "released", sequencer_id=1, to=owner_address(1), amount_wei=str(ETH))
    assert _apply(driver, release) == [0]
    assert get_withdrawals(driver.kv) == []


def test_signer_change_moves_tx_authority(driver: Driver) -> None:
    event = l1_event(1, "signer_changed", sequencer_id=1, old_signer=signer_address(1),
                     new_signer=signer_address(7))
    assert _apply(driver, event) == [0]
    assert bytes(get_sequencer(driver.kv, 1).signer) == signer_address(7)


def test_signer_change_of_a_tombstoned_sequencer_follows_l1(driver: Driver) -> None:
    # Tombstoned on the chain, Active on L1, where changeSigner succeeds: a fact
    seq = get_sequencer(driver.kv, 1)
    seq.status = TOMBSTONED
    put_sequencer(driver.kv, seq)
    event = l1_event(1, "signer_changed", sequencer_id=1, new_signer=signer_address(7))
    assert _apply(driver, event) == [0]
    assert bytes(get_sequencer(driver.kv, 1).signer) == signer_address(7)
    assert get_sequencer(driver.kv, 1).status == TOMBSTONED


def test_invalid_lock_increase_for_unlocking_sequencer_is_noop(driver: Driver) -> None:
    _apply(driver, l1_locked(1, 2, 5 * ETH), l1_event(2, "unlock_initiated", sequencer_id=2))
    event = l1_event(3, "lock_increased", sequencer_id=2, amount_wei=str(ETH))
    assert _apply(driver, event) == [NotActiveError.code]


def test_rewards_claimed_reduces_unclaimed_rewards(driver: Driver) -> None:
    seq = get_sequencer(driver.kv, 1)
    seq.rewards_accrued_wei = "500"
    put_sequencer(driver.kv, seq)
    claim = l1_event(1, "rewards_claimed", sequencer_id=1, to=owner_address(1), amount_wei="300")
    assert _apply(driver, claim) == [0]
    assert get_sequencer(driver.kv, 1).rewards_claimed_wei == "300"
    again = l1_event(2, "rewards_claimed", sequencer_id=1, to=owner_address(1), amount_wei="201")
    assert _apply(driver, again) == [ClaimExceedsRewardsError.code]
