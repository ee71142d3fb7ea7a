"""The L1 Locking contract against a real anvil: every function and every revert."""

from __future__ import annotations

from typing import Any, cast

import pytest
from web3 import Web3

from abci_app.devnet import l1_deploy
from abci_app.l1 import contract as c
from abci_app.l1.contract import SequencerStatus
from abci_app.settlement import Release, Reward
from tests.integration.l1_fixtures import (  # noqa: F401 - the *_fixture names register fixtures
    MAX_LOCK_WEI,
    MIN_LOCK_WEI,
    OWNER_BALANCE_WEI,
    WITHDRAWAL_DELAY_S,
    L1Env,
    anvil_fixture,
    expect_revert,
    l1_fixture,
    lock_new,
    locking_env_fixture,
    make_key,
    make_signer,
)
from tests.integration.settlement_fixtures import settle_items

pytestmark = pytest.mark.integration
ZERO_ADDRESS = "0x" + "00" * 20


def balance_of(env: L1Env, address: str) -> int:
    return int(env.dep.token.functions.balanceOf(address).call())


def view(env: L1Env, name: str, *args: object) -> int:
    return int(getattr(env.dep.locking.functions, name)(*args).call())


def assert_books_balance(env: L1Env) -> None:
    """Every token the contract holds is locked, queued, released or in the reward pool."""
    held = balance_of(env, env.dep.locking_address)
    books = view(env, "totalLocked") + view(env, "totalPending") + view(env, "totalClaimable")
    books += view(env, "rewardPool")
    assert held == books


# ---------------------------------------------------------------- build, deployment, admin


def test_event_abi_constant_matches_compiled_contract(l1: L1Env) -> None:
    def shape(abi: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, bool]]]:
        return {
            e["name"]: [(i["name"], i["type"], i["indexed"]) for i in e["inputs"]]
            for e in abi
            if e["type"] == "event" and e["name"] in c.EVENT_NAMES and not e["anonymous"]
        }

    assert shape(c.LOCKING_EVENT_ABI) == shape(cast(list[dict[str, Any]], l1.dep.locking.abi))
    assert len(shape(c.LOCKING_EVENT_ABI)) == 8
    assert c.EVENT_NAMES == (
        "Locked", "LockIncreased", "SignerChanged", "WithdrawalRequested",
        "UnlockInitiated", "Released", "RewardsClaimed", "BatchSettled",
    )  # fmt: skip


def test_deployment_sets_parameters_admin_and_empty_state(l1: L1Env) -> None:
    locking = l1.dep.locking.functions
    assert locking.token().call() == l1.dep.token_address
    assert (view(l1, "minLock"), view(l1, "maxLock")) == (MIN_LOCK_WEI, MAX_LOCK_WEI)
    assert view(l1, "withdrawalDelay") == WITHDRAWAL_DELAY_S
    assert c.get_lock_params(l1.dep).withdrawal_delay_s == WITHDRAWAL_DELAY_S
    assert locking.defaultAdmin().call() == l1.admin.address
    assert locking.slashSink().call() == l1_deploy.BURN_ADDRESS
    assert view(l1, "lastBatchNonce") == 0
    assert (view(l1, "eventNonce"), view(l1, "sequencerCount")) == (0, 0)
    assert c.get_all_sequencers(l1.dep) == []
    assert c.get_sequencer(l1.dep, 1).status == SequencerStatus.NONE


def test_invalid_constructor_lock_range_is_rejected(l1: L1Env) -> None:
    with expect_revert(l1, "InvalidLockRange"):
        l1_deploy.deploy_locking(
            l1.node.w3, l1.admin.private_key, min_lock_wei=5, max_lock_wei=4,
            withdrawal_delay_s=1, token_address=l1.dep.token_address,
        )  # fmt: skip


def test_invalid_constructor_token_is_rejected(l1: L1Env) -> None:
    with expect_revert(l1, "ZeroAddress"):
        l1_deploy.deploy_locking(
            l1.node.w3, l1.admin.private_key, min_lock_wei=1, max_lock_wei=2,
            withdrawal_delay_s=1, token_address=ZERO_ADDRESS,
        )  # fmt: skip


def test_invalid_constructor_slash_sink_is_rejected(l1: L1Env) -> None:
    with expect_revert(l1, "ZeroAddress"):
        l1_deploy.deploy_locking(
            l1.node.w3, l1.admin.private_key, min_lock_wei=1, max_lock_wei=2,
            withdrawal_delay_s=1, token_address=l1.dep.token_address, slash_sink=ZERO_ADDRESS,
        )  # fmt: skip


def test_token_that_delivers_less_than_the_amount_is_rejected(l1: L1Env) -> None:
    admin, owner = l1.admin, l1.owners[0]
    fee_token, _ = l1_deploy.deploy_contract(l1.node.w3, admin.private_key, "FeeOnTransferToken")
    dep = l1_deploy.deploy_locking(
        l1.node.w3, admin.private_key, min_lock_wei=100, max_lock_wei=10_000,
        withdrawal_delay_s=1, token_address=str(fee_token.address),
    )  # fmt: skip
    mint = fee_token.functions.mint(owner.address, 10**6)
    c.send_transaction(l1.node.w3, owner.private_key, mint)
    c.set_whitelisted(dep, admin.private_key, owner.address, True)
    with expect_revert(l1, "TransferAmountMismatch"):
        c.lock(dep, owner.private_key, make_signer(0), make_key(0), 1_000)


def test_admin_sets_whitelist_and_pause(l1: L1Env) -> None:
    key, outsider = l1.admin.private_key, l1.outsider.address
    c.set_whitelisted(l1.dep, key, outsider, True)
    assert l1.dep.locking.functions.whitelisted(outsider).call() is True
    c.set_whitelisted(l1.dep, key, outsider, False)
    assert l1.dep.locking.functions.whitelisted(outsider).call() is False
    c.pause(l1.dep, key)
    with expect_revert(l1, "EnforcedPause"):
        lock_new(l1, 0)
    c.unpause(l1.dep, key)
    lock_new(l1, 0)
    assert view(l1, "eventNonce") == 1  # admin changes are not mirrored


def test_admin_has_no_path_to_tokens_or_parameters(l1: L1Env) -> None:
    names = {e.get("name") for e in l1.dep.locking.abi}
    assert not names & {"REWARD_DISTRIBUTOR", "setLockRange", "setWithdrawalDelay"}
    seq_id = lock_new(l1, 0)
    with expect_revert(l1, "NotOwner"):
        c.claim(l1.dep, l1.admin.private_key, seq_id)
    with expect_revert(l1, "NotOwner"):
        c.claim_rewards(l1.dep, l1.admin.private_key, seq_id)


def test_invalid_admin_calls_are_rejected(l1: L1Env) -> None:
    stranger = l1.owners[0].private_key
    with expect_revert(l1, "AccessControlUnauthorizedAccount"):
        c.set_whitelisted(l1.dep, stranger, l1.outsider.address, True)
    with expect_revert(l1, "AccessControlUnauthorizedAccount"):
        c.pause(l1.dep, stranger)
    with expect_revert(l1, "ZeroAddress"):
        c.set_whitelisted(l1.dep, l1.admin.private_key, ZERO_ADDRESS, True)


# ---------------------------------------------------------------- lock


def test_lock_registers_sequencers_with_increasing_ids(l1: L1Env) -> None:
    owner = l1.owners[0]
    receipt = c.lock(l1.dep, owner.private_key, make_signer(0), make_key(0), MIN_LOCK_WEI)
    assert lock_new(l1, 1, MAX_LOCK_WEI) == 2
    records = c.get_all_sequencers(l1.dep)
    assert [r.sequencer_id for r in records] == [1, 2]
    assert records[0] == c.SequencerRecord(
        1, owner.address, Web3.to_checksum_address(make_signer(0)), make_key(0), MIN_LOCK_WEI,
        SequencerStatus.ACTIVE,
    )  # fmt: skip
    assert records[1].amount_wei == MAX_LOCK_WEI
    assert balance_of(l1, owner.address) == OWNER_BALANCE_WEI - MIN_LOCK_WEI
    assert view(l1, "totalLocked") == MIN_LOCK_WEI + MAX_LOCK_WEI
    logs = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert [(log.name, log.nonce, log.sequencer_id) for log in logs] == [("Locked", 1, 1)]
    assert logs[0].args["consensusKey"] == make_key(0) and logs[0].args["owner"] == owner.address
    assert view(l1, "sequencerOfSigner", make_signer(0)) == 1
    assert view(l1, "sequencerOfKey", make_key(0)) == 1
    assert_books_balance(l1)


def test_invalid_lock_calls_are_rejected(l1: L1Env) -> None:
    key = l1.owners[0].private_key
    lock_new(l1, 1)  # owners[1] holds signer 1 and key 1
    cases = [
        ("NotWhitelisted", l1.outsider.private_key, make_signer(9), make_key(9), MIN_LOCK_WEI),
        ("ZeroSigner", key, ZERO_ADDRESS, make_key(9), MIN_LOCK_WEI),
        ("ZeroKey", key, make_signer(9), b"\x00" * 32, MIN_LOCK_WEI),
        ("SignerInUse", key, make_signer(1), make_key(9), MIN_LOCK_WEI),
        ("KeyInUse", key, make_signer(9), make_key(1), MIN_LOCK_WEI),
        ("AmountOutOfRange", key, make_signer(9), make_key(9), MIN_LOCK_WEI - 1),
        ("AmountOutOfRange", key, make_signer(9), make_key(9), MAX_LOCK_WEI + 1),
    ]
    for error, sender, signer, consensus_key, amount in cases:
        with expect_revert(l1, error):
            c.lock(l1.dep, sender, signer, consensus_key, amount)
    with expect_revert(l1, "OwnerHasSequencer"):
        c.lock(l1.dep, l1.owners[1].private_key, make_signer(9), make_key(9), MIN_LOCK_WEI)
    with expect_revert(l1, "ERC20InsufficientAllowance"):
        c.approve_locking(l1.dep, key, 0)
        c.lock(l1.dep, key, make_signer(9), make_key(9), MIN_LOCK_WEI, approve=False)
    assert view(l1, "sequencerCount") == 1 and view(l1, "eventNonce") == 1


# ---------------------------------------------------------------- increaseLock, changeSigner


def test_increase_lock_adds_to_the_total(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI)
    receipt = c.increase_lock(l1.dep, l1.owners[0].private_key, seq_id, 5)
    assert c.get_sequencer(l1.dep, seq_id).amount_wei == MIN_LOCK_WEI + 5
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert (log.name, log.nonce, log.args["amount"], log.args["newTotal"]) == (
        "LockIncreased", 2, 5, MIN_LOCK_WEI + 5,
    )  # fmt: skip
    assert_books_balance(l1)


def test_invalid_increase_lock_calls_are_rejected(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0, MAX_LOCK_WEI - 1)
    key = l1.owners[0].private_key
    with expect_revert(l1, "UnknownSequencer"):
        c.increase_lock(l1.dep, key, 99, 1)
    with expect_revert(l1, "NotOwner"):
        c.increase_lock(l1.dep, l1.owners[1].private_key, seq_id, 1)
    with expect_revert(l1, "ZeroAmount"):
        c.increase_lock(l1.dep, key, seq_id, 0)
    with expect_revert(l1, "ExceedsMaxLock"):
        c.increase_lock(l1.dep, key, seq_id, 2)
    c.initiate_unlock(l1.dep, key, seq_id)
    with expect_revert(l1, "AlreadyUnlocking"):
        c.increase_lock(l1.dep, key, seq_id, 1)


def test_change_signer_moves_the_signer_and_retires_the_old_one(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0)
    key = l1.owners[0].private_key
    receipt = c.change_signer(l1.dep, key, seq_id, make_signer(7))
    assert c.get_sequencer(l1.dep, seq_id).signer == Web3.to_checksum_address(make_signer(7))
    assert view(l1, "sequencerOfSigner", make_signer(7)) == seq_id
    assert view(l1, "sequencerOfSigner", make_signer(0)) == 0
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert log.name == "SignerChanged" and log.nonce == 2
    assert log.args["oldSigner"] == Web3.to_checksum_address(make_signer(0))
    assert log.args["newSigner"] == Web3.to_checksum_address(make_signer(7))
    # Verify a retired signer can never come back, to this sequencer or another
    with expect_revert(l1, "SignerInUse"):
        c.change_signer(l1.dep, key, seq_id, make_signer(0))
    with expect_revert(l1, "SignerInUse"):
        c.lock(l1.dep, l1.owners[1].private_key, make_signer(0), make_key(1), MIN_LOCK_WEI)


def test_invalid_change_signer_calls_are_rejected(l1: L1Env) -> None:
    seq_id, other_id = lock_new(l1, 0), lock_new(l1, 1)
    key = l1.owners[0].private_key
    with expect_revert(l1, "UnknownSequencer"):
        c.change_signer(l1.dep, key, 99, make_signer(7))
    with expect_revert(l1, "NotOwner"):
        c.change_signer(l1.dep, key, other_id, make_signer(7))
    with expect_revert(l1, "ZeroSigner"):
        c.change_signer(l1.dep, key, seq_id, ZERO_ADDRESS)
    with expect_revert(l1, "SignerInUse"):
        c.change_signer(l1.dep, key, seq_id, make_signer(0))
    with expect_revert(l1, "SignerInUse"):
        c.change_signer(l1.dep, key, seq_id, make_signer(1))
    c.initiate_unlock(l1.dep, key, seq_id)
    with expect_revert(l1, "AlreadyUnlocking"):
        c.change_signer(l1.dep, key, seq_id, make_signer(7))


# ---------------------------------------------------------------- withdrawals and unlock


def test_partial_withdrawal_is_queued_for_the_delay(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + 10)
    receipt = c.request_withdrawal(l1.dep, l1.owners[0].private_key, seq_id, 10)
    block_time = l1.node.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert c.get_sequencer(l1.dep, seq_id).amount_wei == MIN_LOCK_WEI
    assert c.get_pending_withdrawals(l1.dep, seq_id) == [
        c.PendingWithdrawal(10, block_time + WITHDRAWAL_DELAY_S)
    ]
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert (log.name, log.args["amount"], log.args["remaining"]) == (
        "WithdrawalRequested", 10, MIN_LOCK_WEI,
    )  # fmt: skip
    assert (view(l1, "totalLocked"), view(l1, "totalPending")) == (MIN_LOCK_WEI, 10)
    assert_books_balance(l1)


def test_invalid_withdrawal_requests_are_rejected(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + 100)
    key = l1.owners[0].private_key
    with expect_revert(l1, "UnknownSequencer"):
        c.request_withdrawal(l1.dep, key, 99, 1)
    with expect_revert(l1, "NotOwner"):
        c.request_withdrawal(l1.dep, l1.owners[1].private_key, seq_id, 1)
    with expect_revert(l1, "ZeroAmount"):
        c.request_withdrawal(l1.dep, key, seq_id, 0)
    with expect_revert(l1, "WithdrawalExceedsLock"):
        c.request_withdrawal(l1.dep, key, seq_id, MIN_LOCK_WEI + 101)
    with expect_revert(l1, "BelowMinLock"):
        c.request_withdrawal(l1.dep, key, seq_id, 101)
    c.initiate_unlock(l1.dep, key, seq_id)
    with expect_revert(l1, "AlreadyUnlocking"):
        c.request_withdrawal(l1.dep, key, seq_id, 1)


def test_withdrawal_queue_is_capped(l1: L1Env) -> None:
    cap = view(l1, "MAX_PENDING_WITHDRAWALS")
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + cap + 1)
    key = l1.owners[0].private_key
    for _ in range(cap):
        c.request_withdrawal(l1.dep, key, seq_id, 1)
    with expect_revert(l1, "TooManyPendingWithdrawals"):
        c.request_withdrawal(l1.dep, key, seq_id, 1)
    with expect_revert(l1, "TooManyPendingWithdrawals"):
        c.initiate_unlock(l1.dep, key, seq_id)
    assert len(c.get_pending_withdrawals(l1.dep, seq_id)) == cap


def test_initiate_unlock_queues_the_whole_lock(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI * 3)
    key = l1.owners[0].private_key
    receipt = c.initiate_unlock(l1.dep, key, seq_id)
    record = c.get_sequencer(l1.dep, seq_id)
    assert (record.amount_wei, record.status) == (0, SequencerStatus.UNLOCKING)
    assert [p.amount_wei for p in c.get_pending_withdrawals(l1.dep, seq_id)] == [MIN_LOCK_WEI * 3]
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert (log.name, log.sequencer_id, log.args["amount"]) == (
        "UnlockInitiated", seq_id, MIN_LOCK_WEI * 3,
    )  # fmt: skip
    with expect_revert(l1, "AlreadyUnlocking"):
        c.initiate_unlock(l1.dep, key, seq_id)
    with expect_revert(l1, "NotOwner"):
        c.initiate_unlock(l1.dep, l1.owners[1].private_key, seq_id)
    with expect_revert(l1, "UnknownSequencer"):
        c.initiate_unlock(l1.dep, key, 99)
    assert_books_balance(l1)


# ---------------------------------------------------------------- claim


def test_claim_pays_only_what_settlement_released(l1: L1Env) -> None:
    owner = l1.owners[0]
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + 10)
    c.request_withdrawal(l1.dep, owner.private_key, seq_id, 10)
    l1.node.increase_time(WITHDRAWAL_DELAY_S + 1)
    # Verify time alone releases nothing
    with expect_revert(l1, "NothingToClaim"):
        c.claim(l1.dep, owner.private_key, seq_id)
    settle_items(l1, releases=[Release(seq_id, 10)])
    assert c.get_claimable(l1.dep, seq_id) == 10
    before = balance_of(l1, owner.address)
    receipt = c.claim(l1.dep, owner.private_key, seq_id)
    assert balance_of(l1, owner.address) == before + 10
    assert c.get_pending_withdrawals(l1.dep, seq_id) == []
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert (log.name, log.nonce) == ("Released", 4)  # lock, request, BatchSettled, claim
    assert (log.args["to"], log.args["amount"]) == (owner.address, 10)
    assert c.get_sequencer(l1.dep, seq_id).status == SequencerStatus.ACTIVE
    with expect_revert(l1, "NothingToClaim"):
        c.claim(l1.dep, owner.private_key, seq_id)
    assert_books_balance(l1)


def test_claim_after_full_unlock_exits_the_sequencer(l1: L1Env) -> None:
    owner, other = l1.owners[0], lock_new(l1, 1)
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + 10)
    c.request_withdrawal(l1.dep, owner.private_key, seq_id, 10)
    c.initiate_unlock(l1.dep, owner.private_key, seq_id)
    settle_items(l1, releases=[Release(seq_id, MIN_LOCK_WEI + 10)])
    assert other == 1
    c.claim(l1.dep, owner.private_key, seq_id)
    assert balance_of(l1, owner.address) == OWNER_BALANCE_WEI
    assert c.get_sequencer(l1.dep, seq_id).status == SequencerStatus.EXITED
    # Verify an exited owner, signer and key are never reused
    with expect_revert(l1, "OwnerHasSequencer"):
        c.lock(l1.dep, owner.private_key, make_signer(8), make_key(8), MIN_LOCK_WEI)
    with expect_revert(l1, "KeyInUse"):
        c.lock(l1.dep, l1.owners[2].private_key, make_signer(8), make_key(0), MIN_LOCK_WEI)
    assert_books_balance(l1)


def test_release_takes_the_oldest_withdrawals_first(l1: L1Env) -> None:
    owner = l1.owners[0]
    seq_id = lock_new(l1, 0, MIN_LOCK_WEI + 10)
    c.request_withdrawal(l1.dep, owner.private_key, seq_id, 4)
    c.request_withdrawal(l1.dep, owner.private_key, seq_id, 6)
    settle_items(l1, releases=[Release(seq_id, 5)])
    assert [p.amount_wei for p in c.get_pending_withdrawals(l1.dep, seq_id)] == [5]
    receipt = c.claim(l1.dep, owner.private_key, seq_id)
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert log.args["amount"] == 5
    assert_books_balance(l1)


def test_invalid_claims_are_rejected(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0)
    with expect_revert(l1, "UnknownSequencer"):
        c.claim(l1.dep, l1.owners[0].private_key, 99)
    with expect_revert(l1, "NotOwner"):
        c.claim(l1.dep, l1.owners[1].private_key, seq_id)


# ---------------------------------------------------------------- rewards


def test_rewards_are_funded_by_anyone_and_paid_only_after_settlement(l1: L1Env) -> None:
    owner = l1.owners[0]
    seq_id = lock_new(l1, 0)
    c.fund_rewards(l1.dep, l1.outsider.private_key, 50)
    assert view(l1, "rewardPool") == 50
    with expect_revert(l1, "NothingToClaim"):
        c.claim_rewards(l1.dep, owner.private_key, seq_id)
    settle_items(l1, rewards=[Reward(seq_id, 30)])
    before = balance_of(l1, owner.address)
    receipt = c.claim_rewards(l1.dep, owner.private_key, seq_id)
    assert balance_of(l1, owner.address) == before + 30 and view(l1, "rewardPool") == 20
    (log,) = c.get_locking_logs(l1.dep, receipt["blockNumber"], receipt["blockNumber"])
    assert (log.name, log.nonce, log.sequencer_id) == ("RewardsClaimed", 3, seq_id)
    assert (log.args["to"], log.args["amount"]) == (owner.address, 30)
    assert c.get_rewards_owed(l1.dep, seq_id) == 0
    assert_books_balance(l1)


def test_invalid_reward_calls_are_rejected(l1: L1Env) -> None:
    seq_id = lock_new(l1, 0)
    with expect_revert(l1, "ZeroAmount"):
        c.fund_rewards(l1.dep, l1.outsider.private_key, 0)
    with expect_revert(l1, "UnknownSequencer"):
        c.claim_rewards(l1.dep, l1.owners[0].private_key, 99)
    with expect_revert(l1, "NotOwner"):
        c.claim_rewards(l1.dep, l1.owners[1].private_key, seq_id)
    with expect_revert(l1, "NothingToClaim"):
        c.claim_rewards(l1.dep, l1.owners[0].private_key, seq_id)


# ---------------------------------------------------------------- nonces and views


def test_event_nonce_increases_by_one_across_every_event(l1: L1Env) -> None:
    start = l1.node.w3.eth.block_number + 1
    key, other = l1.owners[0].private_key, l1.owners[1].private_key
    seq_id, other_id = lock_new(l1, 0, MIN_LOCK_WEI * 2), lock_new(l1, 1)
    c.increase_lock(l1.dep, key, seq_id, 7)
    c.set_whitelisted(l1.dep, l1.admin.private_key, l1.outsider.address, True)  # no nonce
    c.change_signer(l1.dep, key, seq_id, make_signer(5))
    c.request_withdrawal(l1.dep, key, seq_id, 7)
    c.fund_rewards(l1.dep, l1.outsider.private_key, 9)  # no nonce
    settle_items(l1, rewards=[Reward(other_id, 9)])  # BatchSettled takes a nonce
    c.claim_rewards(l1.dep, other, other_id)
    c.initiate_unlock(l1.dep, other, other_id)
    settle_items(l1, releases=[Release(seq_id, 7), Release(other_id, MIN_LOCK_WEI)])
    c.claim(l1.dep, key, seq_id)
    c.claim(l1.dep, other, other_id)
    logs = c.get_locking_logs(l1.dep, start, l1.node.w3.eth.block_number)
    assert [log.nonce for log in logs] == list(range(1, len(logs) + 1))
    assert view(l1, "eventNonce") == len(logs) == 11
    assert {log.name for log in logs} == set(c.EVENT_NAMES)


def test_list_sequencers_page_is_bounded_by_the_count(l1: L1Env) -> None:
    for index in range(3):
        lock_new(l1, index)
    page = l1.dep.locking.functions.listSequencersPage
    assert page(2, 10).call()[0] == [2, 3]
    assert page(1, 2).call()[0] == [1, 2]
    assert page(0, 5).call()[0] == [] and page(4, 5).call()[0] == []
    assert [r.sequencer_id for r in c.get_all_sequencers(l1.dep)] == [1, 2, 3]


def test_views_read_at_an_earlier_block(l1: L1Env) -> None:
    lock_new(l1, 0)
    block = l1.node.w3.eth.block_number
    lock_new(l1, 1)
    assert len(c.get_all_sequencers(l1.dep, block)) == 1
    assert c.get_event_nonce(l1.dep, block) == 1 and c.get_event_nonce(l1.dep) == 2


def test_attach_binds_to_the_deployed_contracts(l1: L1Env) -> None:
    attached = c.attach_locking(l1.node.w3, l1.dep.locking_address, l1.dep.deploy_block)
    assert attached.token_address == l1.dep.token_address


# ---------------------------------------------------------------- the anvil helper


def test_anvil_reorg_replaces_recent_blocks(l1: L1Env) -> None:
    lock_new(l1, 0)
    w3 = l1.node.w3
    height = w3.eth.block_number
    old_hash = w3.eth.get_block(height)["hash"]
    l1.node.reorg(1)
    assert w3.eth.block_number == height
    assert w3.eth.get_block(height)["hash"] != old_hash


def test_anvil_snapshot_and_revert_restore_state(l1: L1Env) -> None:
    snapshot = l1.node.snapshot()
    lock_new(l1, 0)
    l1.node.mine(3)
    l1.node.revert(snapshot)
    assert view(l1, "sequencerCount") == 0
