"""`Locking.settle` against a real anvil: effects with exact balances, and every named revert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from abci_app import chain
from abci_app import settlement as s
from abci_app.chain.settlement import get_settlement_batch
from abci_app.chain.state import get_l1_locked, get_locked, get_sequencer, get_totals
from abci_app.chain.withdrawals import get_withdrawals
from abci_app.devnet import l1_deploy
from abci_app.devnet.anvil import Anvil
from abci_app.l1 import contract as c
from abci_app.l1 import decode
from abci_app.l1.contract import SequencerStatus
from abci_app.l1.source import RawLog
from tests.integration.l1_fixtures import (
    ETHER,
    MAX_LOCK_WEI,
    MIN_LOCK_WEI,
    OWNER_BALANCE_WEI,
    WITHDRAWAL_DELAY_S,
    L1Env,
    expect_revert,
    make_key,
    make_signer,
    make_signer_key,
)
from tests.integration.settlement_fixtures import make_batch, settle_batch, sign_batch
from tests.unit.chain.helpers import (
    DEFAULT_PARAMS,
    SETTLEMENT_PARAMS,
    Driver,
    consensus_address,
    l1_event,
    make_chain,
)

pytestmark = pytest.mark.integration
# Sequencer i + 1 locks STAKES[i] with signer make_signer(i); the total, 360, splits into thirds.
STAKES = [s_ * ETHER for s_ in (10, 20, 30, 40, 50, 60, 70, 80)]
TOTAL_STAKE = sum(STAKES)
ALL = list(range(len(STAKES)))
SINK = "0x00000000000000000000000000000000005141ac"
DOWNTIME = s.SlashReason.DOWNTIME
CHAIN_WITHDRAWAL_DELAY_NS = (DEFAULT_PARAMS["withdrawal_delay_s"] + 1) * 10**9


@pytest.fixture(scope="module", name="settle_env")
def settle_env_fixture() -> Iterator[L1Env]:
    with Anvil(accounts=len(STAKES) + 3) as node:
        accounts = node.accounts
        admin, owners = accounts[0], accounts[1 : len(STAKES) + 1]
        outsider, funder = accounts[len(STAKES) + 1], accounts[len(STAKES) + 2]
        dep = l1_deploy.deploy_locking(
            node.w3, admin.private_key, min_lock_wei=MIN_LOCK_WEI, max_lock_wei=MAX_LOCK_WEI,
            withdrawal_delay_s=WITHDRAWAL_DELAY_S, slash_sink=SINK,
        )  # fmt: skip
        for account in [*owners, outsider, funder]:
            l1_deploy.mint(dep, admin.private_key, account.address, OWNER_BALANCE_WEI)
        for i, (owner, stake) in enumerate(zip(owners, STAKES, strict=True)):
            c.set_whitelisted(dep, admin.private_key, owner.address, True)
            c.lock(dep, owner.private_key, make_signer(i), make_key(i), stake)
        yield L1Env(node, dep, admin, list(owners), outsider, funder)


@pytest.fixture(name="env")
def env_fixture(settle_env: L1Env) -> Iterator[L1Env]:
    snapshot = settle_env.node.snapshot()
    yield settle_env
    settle_env.node.revert(snapshot)


def balance_of(env: L1Env, address: str) -> int:
    return int(env.dep.token.functions.balanceOf(address).call())


def view(env: L1Env, name: str, *args: object) -> int:
    return int(getattr(env.dep.locking.functions, name)(*args).call())


def get_events(env: L1Env, name: str, receipt: Any) -> list[dict[str, Any]]:
    event = getattr(env.dep.locking.events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def assert_books_balance(env: L1Env) -> None:
    held = balance_of(env, env.dep.locking_address)
    assert held == sum(view(env, name) for name in
                       ("totalLocked", "totalPending", "totalClaimable", "rewardPool"))  # fmt: skip


def dry_run(env: L1Env, batch: s.Batch, signatures: list[s.BatchSignature]) -> None:
    c.get_settle_call(env.dep, batch, signatures).call({"from": env.outsider.address})


# ---------------------------------------------------------------- the digest


def test_python_digest_equals_the_contracts(env: L1Env) -> None:
    batch = make_batch(
        env, releases=[s.Release(1, 5)], slashes=[s.Slash(2, DOWNTIME, 1, 2)],
        rewards=[s.Reward(3, 4)], lock_params=s.LockParams(1, 2, 3),
    )  # fmt: skip
    assert c.get_contract_batch_digest(env.dep, batch) == s.compute_batch_digest(batch)
    assert bytes(env.dep.locking.functions.domainSeparator().call()) == (
        s.compute_domain_separator(batch.chain_id, batch.verifying_contract)
    )
    empty = make_batch(env)
    assert c.get_contract_batch_digest(env.dep, empty) == s.compute_batch_digest(empty)


# ---------------------------------------------------------------- effects


def test_settle_releases_slashes_and_rewards_with_exact_balances(env: L1Env) -> None:
    one, two = env.owners[4], env.owners[5]
    c.request_withdrawal(env.dep, one.private_key, 5, 5 * ETHER)  # seq 5: 50 -> 45 locked
    c.request_withdrawal(env.dep, two.private_key, 6, 4 * ETHER)  # seq 6: 60 -> 56 locked
    c.fund_rewards(env.dep, env.outsider.private_key, 10 * ETHER)
    nonce_before, pool_before = view(env, "eventNonce"), view(env, "rewardPool")
    batch = make_batch(
        env, releases=[s.Release(5, 5 * ETHER)],
        slashes=[s.Slash(6, DOWNTIME, 2 * ETHER, 1 * ETHER)], rewards=[s.Reward(3, 3 * ETHER)],
    )  # fmt: skip
    receipt = settle_batch(env, batch)

    # Verify the release: claimable now, paid in full on claim
    assert c.get_claimable(env.dep, 5) == 5 * ETHER
    before = balance_of(env, one.address)
    c.claim(env.dep, one.private_key, 5)
    assert balance_of(env, one.address) == before + 5 * ETHER
    # Verify the slash: 1 from the queue, 2 from the lock, 3 to the sink
    assert c.get_sequencer(env.dep, 6).amount_wei == 54 * ETHER
    assert [w.amount_wei for w in c.get_pending_withdrawals(env.dep, 6)] == [3 * ETHER]
    assert balance_of(env, SINK) == 3 * ETHER
    # Verify the reward: owed, then paid from the pool
    assert c.get_rewards_owed(env.dep, 3) == 3 * ETHER
    before = balance_of(env, env.owners[2].address)
    c.claim_rewards(env.dep, env.owners[2].private_key, 3)
    assert balance_of(env, env.owners[2].address) == before + 3 * ETHER
    assert view(env, "rewardPool") == pool_before - 3 * ETHER
    # Verify the events: BatchSettled takes the next relay nonce, for sequencer 0
    (settled,) = get_events(env, "BatchSettled", receipt)
    assert settled == {"eventNonce": nonce_before + 1, "sequencerId": 0, "batchNonce": 1,
                       "digest": s.compute_batch_digest(batch)}
    (stake,) = get_events(env, "BatchStake", receipt)
    assert stake["batchNonce"] == 1 and stake["totalStake"] == TOTAL_STAKE - 9 * ETHER
    assert 3 * stake["signedStake"] > 2 * stake["totalStake"]
    assert get_events(env, "WithdrawalReleasable", receipt) == [
        {"batchNonce": 1, "sequencerId": 5, "amount": 5 * ETHER}]
    assert get_events(env, "Slashed", receipt) == [{"batchNonce": 1, "sequencerId": 6,
        "reason": 1, "fromLocked": 2 * ETHER, "fromPending": 1 * ETHER}]  # fmt: skip
    assert get_events(env, "RewardCredited", receipt) == [
        {"batchNonce": 1, "sequencerId": 3, "amount": 3 * ETHER, "owed": 3 * ETHER}]
    assert view(env, "eventNonce") == nonce_before + 3  # BatchSettled and the two claims
    assert c.get_last_batch_nonce(env.dep) == 1
    assert_books_balance(env)


def test_slashed_withdrawal_pays_only_the_remainder(env: L1Env) -> None:
    owner = env.owners[3]
    c.request_withdrawal(env.dep, owner.private_key, 4, 20 * ETHER)
    settle_batch(env, make_batch(env, slashes=[s.Slash(4, DOWNTIME, 0, 6 * ETHER)]))
    settle_batch(env, make_batch(env, releases=[s.Release(4, 20 * ETHER)]))
    before = balance_of(env, owner.address)
    c.claim(env.dep, owner.private_key, 4)
    assert balance_of(env, owner.address) == before + 14 * ETHER
    assert_books_balance(env)


def test_items_beyond_what_l1_holds_are_capped_not_reverted(env: L1Env) -> None:
    c.request_withdrawal(env.dep, env.owners[2].private_key, 3, 1 * ETHER)
    receipt = settle_batch(env, make_batch(
        env, releases=[s.Release(3, 5 * ETHER), s.Release(99, 1)],
        slashes=[s.Slash(2, DOWNTIME, 500 * ETHER, 1)], rewards=[s.Reward(99, 7)],
    ))  # fmt: skip
    assert [e["amount"] for e in get_events(env, "WithdrawalReleasable", receipt)] == [ETHER, 0]
    (slashed,) = get_events(env, "Slashed", receipt)
    assert (slashed["fromLocked"], slashed["fromPending"]) == (STAKES[1], 0)
    assert c.get_rewards_owed(env.dep, 99) == 0
    assert_books_balance(env)


def test_slashing_a_full_exit_to_nothing_exits_the_sequencer(env: L1Env) -> None:
    c.initiate_unlock(env.dep, env.owners[0].private_key, 1)
    settle_batch(env, make_batch(env, slashes=[s.Slash(1, DOWNTIME, 0, STAKES[0])]))
    assert c.get_sequencer(env.dep, 1).status == SequencerStatus.EXITED
    assert_books_balance(env)


def test_empty_reward_pool_leaves_rewards_owed_until_funded(env: L1Env) -> None:
    owner = env.owners[4]
    settle_batch(env, make_batch(env, rewards=[s.Reward(5, 9 * ETHER)]))
    assert c.get_last_batch_nonce(env.dep) == 1 and c.get_rewards_owed(env.dep, 5) == 9 * ETHER
    with expect_revert(env, "RewardPoolEmpty"):
        c.claim_rewards(env.dep, owner.private_key, 5)
    before = balance_of(env, owner.address)
    c.fund_rewards(env.dep, env.distributor.private_key, 4 * ETHER)
    c.claim_rewards(env.dep, owner.private_key, 5)
    assert balance_of(env, owner.address) == before + 4 * ETHER
    assert c.get_rewards_owed(env.dep, 5) == 5 * ETHER
    c.fund_rewards(env.dep, env.distributor.private_key, 10 * ETHER)
    c.claim_rewards(env.dep, owner.private_key, 5)
    assert balance_of(env, owner.address) == before + 9 * ETHER
    assert (c.get_rewards_owed(env.dep, 5), view(env, "rewardPool")) == (0, 5 * ETHER)
    assert_books_balance(env)


def test_missed_production_slash_settles_and_batch_settled_decodes_for_the_chain(
    env: L1Env,
) -> None:
    batch = make_batch(env, slashes=[s.Slash(2, s.SlashReason.MISSED_PRODUCTION, ETHER, 0)])
    receipt = settle_batch(env, batch)
    (slashed,) = get_events(env, "Slashed", receipt)
    assert slashed["reason"] == 3 and slashed["fromLocked"] == ETHER
    # Verify the sidecar's decoder reads the mirrored event exactly as emitted
    topic0 = decode.TOPIC0_BY_NAME["BatchSettled"]
    (raw,) = [entry for entry in receipt["logs"] if bytes(entry["topics"][0]) == topic0]
    event = decode.decode_log(RawLog(
        address=bytes(raw["address"] if isinstance(raw["address"], bytes)
                      else bytes.fromhex(raw["address"][2:])),
        topics=tuple(bytes(topic) for topic in raw["topics"]), data=bytes(raw["data"]),
        block_number=int(raw["blockNumber"]), block_hash=bytes(raw["blockHash"]),
        tx_hash=bytes(raw["transactionHash"]), log_index=int(raw["logIndex"]),
    ))  # fmt: skip
    assert event.nonce == view(env, "eventNonce")
    assert event.batch_settled.sequencer_id == 0
    assert event.batch_settled.batch_nonce == str(batch.nonce)
    assert event.batch_settled.digest == s.compute_batch_digest(batch)


def test_lock_parameters_change_only_through_settlement(env: L1Env) -> None:
    params = s.LockParams(2 * ETHER, 200 * ETHER, 3 * 24 * 3600)
    settle_batch(env, make_batch(env, lock_params=params))
    assert c.get_lock_params(env.dep) == params


# ---------------------------------------------------------------- named reverts


def test_invalid_settle_signers_holding_at_most_two_thirds(env: L1Env) -> None:
    batch = make_batch(env)
    exactly_two_thirds = [7, 6, 5, 2]  # 80 + 70 + 60 + 30 = 240 = 2/3 of 360
    assert 3 * sum(STAKES[i] for i in exactly_two_thirds) == 2 * TOTAL_STAKE
    with expect_revert(env, "InsufficientSignedStake"):
        settle_batch(env, batch, exactly_two_thirds)
    with expect_revert(env, "InsufficientSignedStake"):
        settle_batch(env, batch, [])
    settle_batch(env, batch, [*exactly_two_thirds, 0])  # 10 more passes


def test_invalid_settle_duplicated_signer(env: L1Env) -> None:
    batch = make_batch(env)
    sigs = sign_batch(batch, [7, 6, 5])
    with expect_revert(env, "SignersNotAscending"):
        c.settle(env.dep, env.outsider.private_key, batch, [sigs[0], sigs[0], *sigs[1:]])


def test_invalid_settle_unsorted_signers(env: L1Env) -> None:
    batch = make_batch(env)
    with expect_revert(env, "SignersNotAscending"):
        c.settle(env.dep, env.outsider.private_key, batch, sign_batch(batch, ALL)[::-1])


def test_invalid_settle_forged_signature(env: L1Env) -> None:
    batch = make_batch(env)
    honest = sign_batch(batch, ALL)
    forged = s.sign_digest(s.compute_batch_digest(batch), make_signer_key(99))
    with expect_revert(env, "UnknownSigner"):
        c.settle(env.dep, env.outsider.private_key, batch, [forged, *honest])
    # A registered signer's signature over another batch recovers some other address
    other = sign_batch(make_batch(env, rewards=[s.Reward(1, 1)]), [7])
    with expect_revert(env, "UnknownSigner"):
        c.settle(env.dep, env.outsider.private_key, batch, [*other, *honest])
    garbage = s.BatchSignature(honest[0].signer, b"\x00" * 32, honest[0].s, 27)
    with expect_revert(env, "BadSignature"):
        c.settle(env.dep, env.outsider.private_key, batch, [garbage, *honest[1:]])


def test_invalid_settle_replayed_and_skipped_batches(env: L1Env) -> None:
    first = make_batch(env, rewards=[s.Reward(1, 1)])
    with expect_revert(env, "BadBatchNonce"):
        settle_batch(env, make_batch(env, nonce=2))
    settle_batch(env, first)
    with expect_revert(env, "BadBatchNonce"):
        settle_batch(env, first)
    with expect_revert(env, "BadBatchNonce"):
        settle_batch(env, make_batch(env, nonce=3))
    assert c.get_rewards_owed(env.dep, 1) == 1


def test_invalid_settle_batch_for_another_chain_or_contract(env: L1Env) -> None:
    batch = make_batch(env)
    for other in (
        s.Batch(batch.nonce, batch.chain_id + 1, batch.verifying_contract),
        s.Batch(batch.nonce, batch.chain_id, bytes.fromhex(env.dep.token_address[2:])),
    ):
        with expect_revert(env, "WrongDomain"):
            settle_batch(env, other, ALL)


def test_invalid_settle_while_paused(env: L1Env) -> None:
    c.pause(env.dep, env.admin.private_key)
    with expect_revert(env, "EnforcedPause"):
        settle_batch(env, make_batch(env))


# ---------------------------------------------------------------- the 2/3 rule, as a property


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(subset=st.sets(st.sampled_from(ALL)))
def test_settle_accepts_exactly_the_subsets_the_python_model_accepts(
    settle_env: L1Env, subset: set[int]
) -> None:
    batch = make_batch(settle_env)
    signatures = sign_batch(batch, sorted(subset))
    stakes = {s.compute_signer_address(make_signer_key(i)): STAKES[i] for i in ALL}
    _, complete = s.compute_signed_stake(stakes, [sig.signer for sig in signatures], TOTAL_STAKE)
    if complete:
        dry_run(settle_env, batch, signatures)
    else:
        with pytest.raises(ContractCustomError) as info:
            dry_run(settle_env, batch, signatures)
        data = str(info.value.data)
        assert c.get_revert_name(settle_env.dep.locking.abi, data) == "InsufficientSignedStake"


class MirroredChain:
    """The chain's state machine (tests.unit.chain's Driver) beside the real contract:
    L1 events are relayed by hand, and the chain's batches are settled on the contract."""

    def __init__(self, env: L1Env, **params: Any) -> None:
        self.env = env
        self.driver = Driver(make_chain(STAKES, **SETTLEMENT_PARAMS, min_lock_wei=MIN_LOCK_WEI,
                                        **params))

    def relay(self, kind: str, **fields: Any) -> None:
        nonce = chain.get_last_applied_l1_nonce(self.driver.kv) + 1
        outcome = self.driver.block(l1_events=[l1_event(nonce, kind, **fields)])
        assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log

    def double_sign(self, sequencer_id: int) -> None:
        self.driver.block(misbehavior=[chain.Misbehavior(
            "duplicate_vote", consensus_address(sequencer_id), self.driver.height, 0,
            TOTAL_STAKE // ETHER)])

    def form_batch(self) -> tuple[int, bytes]:
        while (pending := chain.get_pending_settlement(self.driver.kv)) is None:
            self.driver.block()
        return pending

    def settle(self) -> s.Batch:
        nonce, digest = self.form_batch()
        record = get_settlement_batch(self.driver.kv, nonce)
        assert record is not None
        batch = s.decode_batch(bytes(record.batch))
        settle_batch(self.env, make_batch(self.env, releases=batch.releases,
                                          slashes=batch.slashes, rewards=batch.rewards))
        self.relay("batch_settled", sequencer_id=0, batch_nonce=str(nonce), digest=digest)
        return batch

    def queued(self, sequencer_id: int) -> tuple[int, int]:
        """(the chain's queue, L1's queue) of `sequencer_id`."""
        return (sum(int(w.amount_wei) for w in get_withdrawals(self.driver.kv, sequencer_id)),
                sum(w.amount_wei for w in c.get_pending_withdrawals(self.env.dep, sequencer_id)))

    def release_all(self, sequencer_id: int) -> int:
        """After the chain's delay, settle its releases; returns what the owner can claim."""
        self.driver.block(advance_ns=CHAIN_WITHDRAWAL_DELAY_NS)
        [release] = self.settle().releases
        assert release.sequencer_id == sequencer_id
        return release.amount_wei


def test_slash_capped_at_the_lock_is_carried_to_the_queue_and_the_exit_completes(
    env: L1Env,
) -> None:
    """A full exit that starts while a slash of the same stake is in flight. L1 can take
    none of it from the (now empty) lock; the chain carries it to L1's withdrawal queue,
    after which both sides queue the same amount, the release pays exactly that, and the
    exit completes on L1."""
    mirror = MirroredChain(env)
    owner, seq_id = env.owners[3], 4
    mirror.double_sign(seq_id)
    mirror.form_batch()  # the slash is now in flight
    c.initiate_unlock(env.dep, owner.private_key, seq_id)
    mirror.relay("unlock_initiated", sequencer_id=seq_id, amount_wei=str(STAKES[3]))
    slash = STAKES[3] * 500 // 10_000  # double sign: 5%
    assert mirror.settle().slashes == (s.Slash(seq_id, s.SlashReason.DOUBLE_SIGN, slash, 0),)
    assert mirror.queued(seq_id) == (STAKES[3] - slash, STAKES[3])
    assert mirror.settle().slashes == (s.Slash(seq_id, s.SlashReason.DOUBLE_SIGN, 0, slash),)
    assert mirror.queued(seq_id) == (STAKES[3] - slash, STAKES[3] - slash)
    released = mirror.release_all(seq_id)
    before = balance_of(env, owner.address)
    c.claim(env.dep, owner.private_key, seq_id)
    assert balance_of(env, owner.address) == before + released == before + STAKES[3] - slash
    assert c.get_sequencer(env.dep, seq_id).status == SequencerStatus.EXITED
    assert_books_balance(env)


def test_lock_increased_after_an_in_flight_slash_burns_only_the_slash(env: L1Env) -> None:
    """The owner queues 25 of 40 while a slash of 20 is in flight (the chain can queue only
    20), then adds 10 to the lock, which L1 applies although the chain tombstoned it: L1's
    lock pays the whole slash, and the chain queues the 5 L1 already holds in its queue."""
    mirror = MirroredChain(env, double_sign_slash_bps=5000)
    owner, seq_id = env.owners[3], 4  # 40 locked
    sink_before = balance_of(env, SINK)
    slashed_before = get_totals(mirror.driver.kv)["total_slashed_wei"]
    mirror.double_sign(seq_id)
    mirror.form_batch()  # a slash of 20 from the lock is in flight
    c.request_withdrawal(env.dep, owner.private_key, seq_id, 25 * ETHER)  # L1: lock 15
    mirror.relay("withdrawal_requested", sequencer_id=seq_id, amount_wei=str(25 * ETHER),
                 remaining_wei=str(15 * ETHER))
    c.increase_lock(env.dep, owner.private_key, seq_id, 10 * ETHER)  # L1: lock 25
    mirror.relay("lock_increased", sequencer_id=seq_id, amount_wei=str(10 * ETHER),
                 new_total_wei=str(25 * ETHER))
    mirror.settle()  # L1 takes all 20 from its lock of 25
    for _ in range(2):  # nothing carried: no later batch burns anything
        mirror.driver.block()
    assert chain.get_pending_settlement(mirror.driver.kv) is None
    chain_slashed = get_totals(mirror.driver.kv)["total_slashed_wei"] - slashed_before
    assert balance_of(env, SINK) - sink_before == chain_slashed == 20 * ETHER
    assert mirror.queued(seq_id) == (25 * ETHER, 25 * ETHER)
    seq = get_sequencer(mirror.driver.kv, seq_id)
    assert get_locked(seq) == get_l1_locked(seq) == c.get_sequencer(env.dep, seq_id).amount_wei
    assert mirror.release_all(seq_id) == 25 * ETHER
    assert_books_balance(env)
