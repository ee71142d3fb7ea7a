"""Issue 16, `seqset l1 ...` on a live localnet: every subcommand through the CLI.

One 4-validator network with an L2 (so epochs credit rewards) for the whole
module; withdrawals wait 10 s and a batch may form every 3 blocks, so a claim is
reachable within a minute. Tests run in file order: a spare owner locks as
sequencer 5, grows, withdraws, changes signer, claims and unlocks; reverts, bad
input and dead endpoints each assert their one-line message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from abci_app.devnet.l1_deploy import mint
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Settings
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.l1 import contract
from abci_app.node.cli import main

DEAD = "http://127.0.0.1:1"
NEW_ID = 5  # the spare owner's sequencer: the fifth lock on the contract
NEWCOMER, OUTSIDER, FUNDER = 4, 5, 6  # spare owners (whitelisted and funded, no sequencer)
SETTINGS = L1Settings(withdrawal_delay_s=10, evidence_max_age_s=10, settlement_interval_blocks=3)
L2 = L2Settings(block_interval_ms=500, epoch_length=10)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L2Localnet]:
    running = L2Localnet(tmp_path_factory.mktemp("cli-l1"), 4, block_time_ms=300,
                         settings=SETTINGS, l2=L2, cometbft=cometbft_binary)
    with running.running(height=3):
        yield running


def l1(net: L2Localnet, owner: int | str, *args: str, target: bool = True) -> Result:
    """`seqset l1 ARGS` with spare/validator owner `owner`'s key (or a raw key) in the env."""
    key = owner if isinstance(owner, str) else net.owner(owner).private_key
    where = ["--l1-rpc", net.anvil.url, "--contract", net.deployment.locking_address,
             "--node", net.nodes[0].rpc_url] if target else []
    return CliRunner().invoke(main, ["l1", *args, *where], env={"SEQSET_L1_KEY": key})


def assert_ok(result: Result) -> str:
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def assert_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    *progress, last = result.stderr.strip().splitlines()
    assert last.startswith("Error: ") and message in last, last
    assert all(line.startswith("waiting for the chain") for line in progress), progress


def get_chain_sequencer(net: L2Localnet, sequencer_id: int) -> object:
    return net.query(f"/sequencer/{sequencer_id}").sequencer


# ---------------------------------------------------------------- the newcomer's life


def test_lock_by_a_new_owner_is_approved_sent_and_applied_by_the_chain(
    net: L2Localnet, tmp_path: Path,
) -> None:
    owner, signer, consensus_key = net.owner(NEWCOMER), Account.create().address, os.urandom(32)
    key_file = tmp_path / "owner.json"
    key_file.write_text(json.dumps({"private_key": owner.private_key}))
    result = l1(net, "", "lock", "--signer", signer, "--consensus-key", consensus_key.hex(),
                "--amount", "200eth", "--key-file", str(key_file), "--output", "json")
    out = json.loads(assert_ok(result))
    assert [tx["action"] for tx in out["txs"]] == ["approve", "lock"]
    [event] = out["txs"][1]["events"]
    assert event["name"] == "Locked" and event["sequencer_id"] == NEW_ID
    assert event["args"]["amount"] == 200 * TOKEN and event["args"]["signer"] == signer
    assert out["event_nonce"] == event["nonce"] and out["chain_nonce"] >= event["nonce"]
    assert f"waiting for the chain to apply L1 event nonce {event['nonce']}: chain at nonce" \
        in result.stderr
    seq = get_chain_sequencer(net, NEW_ID)
    assert "0x" + seq.owner.hex() == owner.address.lower()  # type: ignore[attr-defined]
    assert int(seq.locked_wei) == 200 * TOKEN  # type: ignore[attr-defined]


def test_increase_and_withdraw_change_the_chain_lock(net: L2Localnet) -> None:
    out = assert_ok(l1(net, NEWCOMER, "increase", "--sequencer-id", str(NEW_ID),
                       "--amount", str(50 * TOKEN)))
    assert "LockIncreased nonce" in out and f"newTotal={250 * TOKEN}" in out
    assert "the chain applied L1 event nonce" in out
    assert int(get_chain_sequencer(net, NEW_ID).locked_wei) == 250 * TOKEN  # type: ignore
    out = assert_ok(l1(net, NEWCOMER, "withdraw", "--sequencer-id", str(NEW_ID),
                       "--amount", "20eth"))
    assert "WithdrawalRequested nonce" in out and f"remaining={230 * TOKEN}" in out
    assert int(get_chain_sequencer(net, NEW_ID).locked_wei) == 230 * TOKEN  # type: ignore
    assert [int(w.amount_wei) for w in net.query(f"/withdrawals/{NEW_ID}").withdrawals] \
        == [20 * TOKEN]


def test_change_signer_times_out_at_zero_then_reaches_the_chain(net: L2Localnet) -> None:
    new_signer = Account.create().address
    # The sidecars wait for 2 L1 confirmations: a zero timeout cannot see the event applied
    result = l1(net, NEWCOMER, "change-signer", "--sequencer-id", str(NEW_ID),
                "--signer", new_signer, "--timeout", "0")
    assert "SignerChanged nonce" in result.stdout
    assert_error(result, "timed out after 0s waiting for the chain to apply L1 event nonce")
    net.wait_for_applied_nonce(contract.get_event_nonce(net.deployment), "change signer")
    signer = get_chain_sequencer(net, NEW_ID).signer  # type: ignore[attr-defined]
    assert "0x" + signer.hex() == new_signer.lower()


def test_claim_pays_the_withdrawal_settlement_released(net: L2Localnet) -> None:
    dep, owner = net.deployment, net.owner(NEWCOMER)
    wait_until(f"settlement to release sequencer {NEW_ID}'s withdrawal on L1",
               lambda: contract.get_claimable(dep, NEW_ID) > 0, 120)
    before = net.token_balance(owner.address)
    out = assert_ok(l1(net, NEWCOMER, "claim", "--sequencer-id", str(NEW_ID)))
    assert "Released nonce" in out and f"amount={20 * TOKEN}" in out
    assert net.token_balance(owner.address) == before + 20 * TOKEN
    assert list(net.query(f"/withdrawals/{NEW_ID}").withdrawals) == []


def test_unlock_queues_the_whole_lock(net: L2Localnet) -> None:
    out = assert_ok(l1(net, NEWCOMER, "unlock", "--sequencer-id", str(NEW_ID)))
    assert "UnlockInitiated nonce" in out and f"amount={230 * TOKEN}" in out
    assert int(get_chain_sequencer(net, NEW_ID).locked_wei) == 0  # type: ignore[attr-defined]


def test_claim_rewards_pays_a_producer_from_the_funded_pool(net: L2Localnet) -> None:
    dep = net.deployment
    contract.fund_rewards(dep, net.owner(FUNDER).private_key, 1_000 * TOKEN)
    sequencer_id = wait_until(
        "settlement to credit some producer's rewards on L1",
        lambda: next((i for i in range(1, 5) if contract.get_rewards_owed(dep, i) > 0), None), 120)
    out = assert_ok(l1(net, sequencer_id - 1, "claim-rewards", "--sequencer-id",
                       str(sequencer_id)))
    assert "RewardsClaimed nonce" in out and f"sequencer {sequencer_id}" in out


# ---------------------------------------------------------------- reverts and bad input


def test_withdraw_by_a_non_owner_reverts_with_not_owner_and_its_arguments(
    net: L2Localnet,
) -> None:
    nonce_before = contract.get_event_nonce(net.deployment)
    caller = net.owner(OUTSIDER).address
    result = l1(net, OUTSIDER, "withdraw", "--sequencer-id", "1", "--amount", "1eth")
    assert_error(result, f"withdraw reverted: NotOwner(sequencerId=1, caller={caller})")
    assert contract.get_event_nonce(net.deployment) == nonce_before  # nothing was sent


def test_claims_with_nothing_owed_revert_with_nothing_to_claim(net: L2Localnet) -> None:
    assert_error(l1(net, 1, "claim", "--sequencer-id", "2"),
                 "claim reverted: NothingToClaim(sequencerId=2)")
    assert_error(l1(net, NEWCOMER, "claim-rewards", "--sequencer-id", str(NEW_ID)),
                 "claim-rewards reverted: NothingToClaim(sequencerId=5)")


def test_lock_from_a_home_reads_its_l1_and_key_and_reverts_on_a_used_key(
    net: L2Localnet,
) -> None:
    home = net.nodes[0].home
    key = net.query("/sequencer/1").sequencer.consensus_pubkey.hex()
    result = l1(net, OUTSIDER, "lock", "--signer", Account.create().address, "--amount", "150eth",
                "--home", str(home), "--node", net.nodes[0].rpc_url, target=False)
    assert_error(result, f"lock reverted: KeyInUse(consensusKey=0x{key})")
    # The lock was estimated before any approve: the revert cost no gas
    dep = net.deployment
    assert dep.token.functions.allowance(net.owner(OUTSIDER).address,
                                         dep.locking_address).call() == 0


def test_bad_addresses_are_named(net: L2Localnet) -> None:
    assert_error(l1(net, NEWCOMER, "change-signer", "--sequencer-id", str(NEW_ID),
                    "--signer", "0xnot-an-address"),
                 "--signer: not a 20-byte hex address: '0xnot-an-address'")
    outsider = net.owner(OUTSIDER).address
    result = CliRunner().invoke(main, [
        "l1", "claim", "--sequencer-id", "1", "--l1-rpc", net.anvil.url, "--contract", outsider,
        "--no-wait"], env={"SEQSET_L1_KEY": net.owner(0).private_key})
    assert_error(result, f"no contract at {outsider} on the L1 at {net.anvil.url}")


def test_dead_l1_and_dead_node_are_one_line_each(net: L2Localnet) -> None:
    base = ["l1", "claim", "--sequencer-id", "1", "--contract", net.deployment.locking_address]
    env = {"SEQSET_L1_KEY": net.owner(0).private_key}
    result = CliRunner().invoke(main, [*base, "--l1-rpc", DEAD, "--node", net.nodes[0].rpc_url],
                                env=env)
    assert_error(result, f"cannot reach the L1 RPC at {DEAD}")
    result = CliRunner().invoke(main, [*base, "--l1-rpc", net.anvil.url, "--node", DEAD], env=env)
    assert_error(result, f"node {DEAD} did not answer")


def test_insufficient_token_and_insufficient_gas_are_one_line_each(net: L2Localnet) -> None:
    dep = net.deployment
    balance = net.token_balance(net.owner(NEWCOMER).address)
    assert_error(l1(net, NEWCOMER, "increase", "--sequencer-id", str(NEW_ID),
                    "--amount", str(balance + 1)),
                 f"increase: insufficient stake token: {net.owner(NEWCOMER).address} holds "
                 f"{balance} wei, needs {balance + 1} wei")
    # A whitelisted account with stake but no ETH: the first send (the approve) cannot pay gas
    pauper = Account.create()
    contract.set_whitelisted(dep, net.admin.private_key, pauper.address, True)
    mint(dep, net.admin.private_key, pauper.address, 200 * TOKEN)
    result = l1(net, pauper.key.to_0x_hex(), "lock", "--signer", Account.create().address,
                "--consensus-key", os.urandom(32).hex(), "--amount", "150eth")
    assert_error(result, f"insufficient ETH for gas in {pauper.address}")
