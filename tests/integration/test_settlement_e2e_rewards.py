"""Issue 14, acceptance 6 (live): rewards reach L1 only through settlement, to the wei.

A real 4-validator net with an L2 (its own anvil, one sequencer agent per
validator): each closed epoch credits its producers on the chain, batches carry
the credits to the Locking contract, and an owner claims from the funded pool.
To compare L1 with the chain exactly, the test stops the relayer (L1 then changes
only by the test's own transactions) and waits until the chain has seen every
batch L1 settled.
"""

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from abci_app.devnet.l2_audit import get_events
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l1 import L1Settings
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.l1 import contract

pytestmark = pytest.mark.integration

L2 = L2Settings(block_interval_ms=500, epoch_length=10)
SETTINGS = L1Settings(settlement_interval_blocks=3)
FUNDER = 6  # a spare owner with tokens and no sequencer
MIN_REWARDED = 2


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L2Localnet]:
    running = L2Localnet(tmp_path_factory.mktemp("settle-rewards"), 4, block_time_ms=300,
                         settings=SETTINGS, l2=L2, cometbft=cometbft_binary)
    with running.running(height=3):
        yield running


def get_chain_rewards(net: L2Localnet, field: str) -> dict[int, int]:
    """Sequencer id -> a rewards_*_wei field of its chain record."""
    return {int(s.id): int(getattr(s, field) or 0) for s in net.query("/sequencers").sequencers}


def get_l1_owed(net: L2Localnet, ids: list[int]) -> dict[int, int]:
    return {i: contract.get_rewards_owed(net.deployment, i) for i in ids}


def get_accrued_by(net: L2Localnet, height: int) -> dict[int, int]:
    """The chain's rewards_accrued events up to `height`, summed per sequencer."""
    totals: Counter[int] = Counter()
    for event in get_events(net.nodes[0], 1, height, ("rewards_accrued",)):
        totals[int(event.attributes["sequencer_id"])] += int(event.attributes["amount_wei"])
    return dict(totals)


def test_rewards_owed_on_l1_equal_rewards_accrued_on_chain_and_pay_out_exactly(
    net: L2Localnet,
) -> None:
    dep = net.deployment
    started = time.monotonic()
    # Two producers' epochs at least, so that the sums cover more than one sequencer
    wait_until(f"the chain to settle rewards of {MIN_REWARDED} sequencers on L1",
               lambda: sum(1 for v in get_chain_rewards(net, "rewards_settled_wei").values()
                           if v) >= MIN_REWARDED, 150)
    print(f"first rewards settled after {time.monotonic() - started:.1f}s")

    # Freeze L1's batches, then let the chain catch up with every batch L1 settled
    net.stop_relayer()
    net.anvil.mine(net.settings.confirmations + 1)  # a settle already sent gets mined
    last_nonce = net.l1_last_batch_nonce()
    net.wait_for_batch_settled(last_nonce)
    ids = sorted(get_chain_rewards(net, "rewards_settled_wei"))
    settled = get_chain_rewards(net, "rewards_settled_wei")
    owed = get_l1_owed(net, ids)
    formed_height = int(net.query(f"/settlement/batch/{last_nonce}").batch.formed_height)
    accrued = get_accrued_by(net, formed_height)
    print(f"batches 1..{last_nonce} (last formed at height {formed_height}): accrued "
          f"{accrued}, settled on the chain {settled}, owed on L1 {owed}")
    # Everything accrued up to the last settled batch, and nothing else, is owed on L1
    assert {i: v for i, v in owed.items() if v} == {i: v for i, v in accrued.items() if v}
    assert settled == owed
    batched: Counter[int] = Counter()
    for nonce in range(1, last_nonce + 1):
        for reward in net.query(f"/settlement/batch/{nonce}").batch.rewards:
            batched[int(reward.sequencer_id)] += int(reward.amount_wei)
    assert {i: v for i, v in owed.items() if v} == dict(batched)
    # Rewards are paid only from the funded pool: nothing has left L1 yet
    assert sum(get_chain_rewards(net, "rewards_claimed_wei").values()) == 0

    # Fund the pool and claim one sequencer's rewards: its owner gets exactly that
    seq_id = max(owed, key=lambda i: owed[i])
    owner = net.owner(seq_id - 1)
    contract.fund_rewards(dep, net.owner(FUNDER).private_key, sum(owed.values()))
    before = net.token_balance(owner.address)
    contract.claim_rewards(dep, owner.private_key, seq_id)
    assert net.token_balance(owner.address) == before + owed[seq_id]
    assert contract.get_rewards_owed(dep, seq_id) == 0
    net.wait_for_applied_nonce(contract.get_event_nonce(dep), "rewards claimed")
    claimed = get_chain_rewards(net, "rewards_claimed_wei")
    assert claimed == {i: owed[seq_id] if i == seq_id else 0 for i in ids}
    assert int(net.query("/totals").totals.total_rewards_claimed_wei) == owed[seq_id]
    # Owed on L1 plus paid out still equals what the chain settled
    after = get_l1_owed(net, ids)
    assert {i: after[i] + claimed[i] for i in ids} == settled
    net.start_relayer()
    print(f"rewards test: {time.monotonic() - started:.1f}s")
