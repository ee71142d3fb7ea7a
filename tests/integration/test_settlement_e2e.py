"""Issue 14, acceptance 1 and 2 (live): settlement carries the chain's decisions to L1.

A real 4-validator net on anvil with the Locking contract, a sidecar per
validator and one `seqset relayer`. Withdrawals wait DELAY_S (the evidence
window is as short, as genesis requires), a batch may form every 3 blocks, and a
validator that misses more than half of a 20-block window is slashed for
downtime. Tests run in file order: the downtime test jails node 3 and so goes last.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest

from abci_app.chain.messages import state
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet, L1Settings
from abci_app.l1 import contract
from abci_app.settlement import Release, decode_batch

pytestmark = pytest.mark.integration

DELAY_S = 10  # withdrawal_delay_s = evidence_max_age_s
SETTINGS = L1Settings(withdrawal_delay_s=DELAY_S, evidence_max_age_s=DELAY_S,
                      settlement_interval_blocks=3)
DOWNTIME_PARAMS = {"signed_blocks_window": 20, "min_signed_bps": 5_000,
                   "downtime_slash_bps": 100, "downtime_jail_s": 600}
JAILED = state.SEQUENCER_STATUS_JAILED


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L1Localnet]:
    with L1Localnet(tmp_path_factory.mktemp("settle"), 4, block_time_ms=300, settings=SETTINGS,
                    params=DOWNTIME_PARAMS, cometbft=cometbft_binary).running() as running:
        yield running


def get_chain_power(net: L1Localnet, sequencer_id: int) -> int:
    """The sequencer's power in the chain's latest validator set (0 if not in it)."""
    return next((int(v.power) for v in net.query("/validators").validators
                 if int(v.sequencer_id) == sequencer_id), 0)


def get_withdrawals(net: L1Localnet, sequencer_id: int) -> list[Any]:
    return list(net.query(f"/withdrawals/{sequencer_id}").withdrawals)


def get_settlement_batch(net: L1Localnet, nonce: int) -> Any:
    return net.query(f"/settlement/batch/{nonce}").batch


def send_and_wait(net: L1Localnet, what: str, send: Any) -> int:
    """Sends an L1 transaction and waits until every running node applied its event."""
    send()
    nonce = contract.get_event_nonce(net.deployment)
    net.wait_for_applied_nonce(nonce, what)
    return nonce


def test_partial_withdrawal_travels_from_l1_request_to_owner_claim(net: L1Localnet) -> None:
    dep, owner, seq_id, amount = net.deployment, net.owner(0), 1, 150 * TOKEN
    started = time.monotonic()
    locked_before = int(net.query(f"/sequencer/{seq_id}").sequencer.locked_wei)
    power_before = get_chain_power(net, seq_id)
    released_before = int(net.query("/totals").totals.total_released_wei or 0)

    # The L1 request is a fact: the chain takes the stake away in the block that applies it
    send_and_wait(net, "partial withdrawal", lambda: contract.request_withdrawal(
        dep, owner.private_key, seq_id, amount))
    seq = net.query(f"/sequencer/{seq_id}").sequencer
    assert int(seq.locked_wei) == locked_before - amount
    assert int(seq.l1_locked_wei) == contract.get_sequencer(dep, seq_id).amount_wei
    # The validator update leaves in that block and signs from two heights on (CometBFT)
    reduced = power_before - amount // TOKEN
    wait_until(f"the chain's set to give sequencer {seq_id} power {reduced}",
               lambda: get_chain_power(net, seq_id) == reduced, 10)
    [queued] = get_withdrawals(net, seq_id)
    assert int(queued.amount_wei) == amount and not queued.releasable
    assert queued.releasable_at_ns - queued.requested_at_ns == DELAY_S * 10**9
    # Nothing is claimable on L1 before a settled batch releases it
    assert contract.get_claimable(dep, seq_id) == 0
    wait_until(f"CometBFT to give sequencer {seq_id} power {reduced}",
               lambda: reduced in {int(v["voting_power"])
                                   for v in net.nodes[0].rpc("validators")["validators"]}, 10)

    # After the delay the chain releases it in a batch, which the validators sign
    batched = wait_until("the withdrawal to be releasable and batched",
                         lambda: next((w for w in get_withdrawals(net, seq_id)
                                       if w.releasable and w.batch_nonce), None),
                         DELAY_S + 60)
    nonce = int(batched.batch_nonce)
    record = get_settlement_batch(net, nonce)
    assert list(decode_batch(bytes(record.batch)).releases) == [Release(seq_id, amount)]
    assert list(record.withdrawal_ids) == [queued.id]
    net.wait_for_batch_settled(nonce)
    print(f"batch {nonce}: formed at height {record.formed_height}, settled "
          f"{time.monotonic() - started:.1f}s after the request")
    [released] = get_withdrawals(net, seq_id)
    assert released.released_on_l1
    assert contract.get_claimable(dep, seq_id) == amount
    assert contract.get_sequencer(dep, seq_id).amount_wei == locked_before - amount

    # The owner claims: L1 moves exactly the amount, and the chain records it paid
    owner_before = net.token_balance(owner.address)
    locking_before = net.token_balance(dep.locking_address)
    send_and_wait(net, "claim", lambda: contract.claim(dep, owner.private_key, seq_id))
    assert net.token_balance(owner.address) == owner_before + amount
    assert net.token_balance(dep.locking_address) == locking_before - amount
    assert contract.get_claimable(dep, seq_id) == 0
    assert get_withdrawals(net, seq_id) == []
    assert int(net.query("/totals").totals.total_released_wei) == released_before + amount
    assert int(net.query(f"/sequencer/{seq_id}").sequencer.locked_wei) == locked_before - amount
    assert net.chain_batch_settled(nonce)
    print(f"request -> claim recorded on the chain: {time.monotonic() - started:.1f}s")


def test_downtime_slash_lowers_the_l1_lock_by_exactly_the_chain_slash(net: L1Localnet) -> None:
    dep, seq_id, index = net.deployment, 4, 3
    started = time.monotonic()
    l1_before = contract.get_sequencer(dep, seq_id).amount_wei
    locking_before = net.token_balance(dep.locking_address)
    assert net.query(f"/slashes/{seq_id}").slashes == []

    net.nodes[index].stop()
    slash = wait_until(f"sequencer {seq_id} to be slashed for downtime",
                       lambda: next(iter(net.query(f"/slashes/{seq_id}").slashes), None), 60)
    print(f"slashed {time.monotonic() - started:.1f}s after node {index} stopped")
    net.nodes[index].start()
    assert slash.reason == "downtime" and int(slash.from_pending_wei) == 0
    slashed = int(slash.from_locked_wei)
    assert slashed == l1_before * DOWNTIME_PARAMS["downtime_slash_bps"] // 10_000 > 0
    seq = net.query(f"/sequencer/{seq_id}").sequencer
    assert seq.status == JAILED
    # L1 is untouched until settlement
    assert contract.get_sequencer(dep, seq_id).amount_wei == l1_before
    assert int(seq.l1_locked_wei) == l1_before

    batched = wait_until("the slash to be batched",
                         lambda: next((s for s in net.query(f"/slashes/{seq_id}").slashes
                                       if s.batch_nonce), None), 30)
    net.wait_for_batch_settled(int(batched.batch_nonce))
    assert contract.get_sequencer(dep, seq_id).amount_wei == l1_before - slashed
    assert net.token_balance(dep.locking_address) == locking_before - slashed
    [settled] = net.query(f"/slashes/{seq_id}").slashes
    assert settled.settled
    assert int(net.query(f"/sequencer/{seq_id}").sequencer.l1_locked_wei) == l1_before - slashed

    # The restarted validator catches up (jailed, so no longer signing blocks)
    wait_until(f"node {index} to catch up",
               lambda: net.nodes[index].height() >= net.nodes[0].height() - 1, 60)
    print(f"downtime slash settled on L1 in {time.monotonic() - started:.1f}s")
