"""L1 events reach the chain only through attested vote extensions, on a real 4-validator net."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from abci_app.chain.messages import state
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet
from abci_app.l1 import contract
from abci_app.valset import compute_consensus_address

SEQUENCER_STATUS_UNLOCKING = state.SEQUENCER_STATUS_UNLOCKING


@pytest.fixture(scope="module")
def l1net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L1Localnet]:
    with L1Localnet(tmp_path_factory.mktemp("l1net"), 4, block_time_ms=300,
                     cometbft=cometbft_binary).running() as net:
        yield net


def wait_for_nonce(net: L1Localnet, nonce: int, what: str, timeout_s: float = 60) -> int:
    """Waits until every node applied `nonce`; returns the chain height when node 0 did."""
    for node in net.nodes:
        wait_until(f"node {node.index} to apply L1 nonce {nonce} ({what})",
                   lambda node=node: net.last_applied_nonce(node.index) >= nonce, timeout_s)
    return net.nodes[0].height()


def test_each_l1_event_reaches_chain_state(l1net: L1Localnet) -> None:
    dep = l1net.deployment
    owner = l1net.owner(0).private_key
    start_nonce = l1net.last_applied_nonce()
    assert start_nonce == contract.get_event_nonce(dep)  # genesis took the L1 state as is

    new_key = nacl.signing.SigningKey.generate().verify_key.encode()
    steps = [
        ("lock", lambda: contract.lock(dep, l1net.owner(4).private_key, l1net.owner(6).address,
                                       new_key, 100 * TOKEN)),
        ("increase", lambda: contract.increase_lock(dep, owner, 1, 50 * TOKEN)),
        ("signer change", lambda: contract.change_signer(dep, owner, 1, l1net.owner(5).address)),
        ("partial withdrawal", lambda: contract.request_withdrawal(dep, owner, 1, 20 * TOKEN)),
    ]
    for offset, (name, send) in enumerate(steps, start=1):
        receipt = send()
        sent_height = l1net.nodes[0].height()
        started = time.monotonic()
        applied_height = wait_for_nonce(l1net, start_nonce + offset, name)
        print(f"{name}: L1 block {receipt['blockNumber']}, applied within "
              f"{applied_height - sent_height} chain blocks ({time.monotonic() - started:.1f}s, "
              f"{l1net.settings.confirmations} L1 confirmations)")

    joined = l1net.query("/sequencer/5").sequencer
    assert bytes(joined.consensus_pubkey) == new_key and int(joined.locked_wei) == 100 * TOKEN
    sequencer = l1net.query("/sequencer/1").sequencer
    assert int(sequencer.locked_wei) == (1_000 + 50 - 20) * TOKEN
    assert bytes(sequencer.signer).hex() == l1net.owner(5).address.lower()[2:]
    withdrawals = l1net.query("/withdrawals/1").withdrawals
    assert [int(w.amount_wei) for w in withdrawals] == [20 * TOKEN]

    contract.initiate_unlock(dep, l1net.owner(3).private_key, 4)
    wait_for_nonce(l1net, start_nonce + 5, "unlock")
    exiting = l1net.query("/sequencer/4").sequencer
    assert exiting.status == SEQUENCER_STATUS_UNLOCKING and int(exiting.locked_wei) == 0
    # Its power is gone from CometBFT's set two heights later; the others go on.
    leaving = compute_consensus_address(bytes(exiting.consensus_pubkey)).hex().upper()
    wait_until("sequencer 4 to leave CometBFT's validator set",
               lambda: leaving not in {v["address"] for v in
                                       l1net.nodes[0].rpc("validators")["validators"]}, 30)
    l1net.net.wait_for_height(l1net.nodes[0].height() + 3)


def test_genesis_from_l1_cli_rebuilds_the_networks_genesis(l1net: L1Localnet,
                                                          tmp_path: Path) -> None:
    genesis = json.loads((l1net.nodes[0].home / "config" / "genesis.json").read_text())
    # The network's own params (those L1 holds agree with it, so they pass).
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(genesis["app_state"]["params"]))
    args = ["genesis", "from-l1", "--rpc", l1net.anvil.url,
            "--contract", l1net.deployment.locking_address, "--params", str(params_file),
            "--block", str(l1net.genesis_block)]
    result = subprocess.run([sys.executable, "-m", "abci_app.node.cli", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == genesis["app_state"]
    # With no params, the default 48 h evidence window outlasts L1's 60 s delay: refused.
    no_params = subprocess.run([sys.executable, "-m", "abci_app.node.cli", *args[:6],
                                *args[8:]], capture_output=True, text=True, timeout=60)
    assert no_params.returncode != 0 and "evidence_max_age_s" in no_params.stderr

    # After the withdrawal request, stake is in flight: genesis refuses that block.
    latest = str(l1net.anvil.w3.eth.block_number)
    busy = subprocess.run([sys.executable, "-m", "abci_app.node.cli", *args[:-1], latest],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode != 0 and "stake in flight" in busy.stderr

    bad = subprocess.run([sys.executable, "-m", "abci_app.node.cli", *args[:4],
                          "--contract", "0x12", "--block", "1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "not an address" in bad.stderr


def test_lock_params_come_from_l1_and_a_disagreeing_params_file_is_refused(
        l1net: L1Localnet, tmp_path: Path) -> None:
    """Issue 14, "parameters disagree": L1 locks at least 100 tokens for a 60 s delay, and
    the chain must say the same (it used to keep its defaults, 1 token and 86,400 s)."""
    s = l1net.settings
    params = l1net.query("/params").params
    assert int(params.min_lock_wei) == s.min_lock_wei == 100 * TOKEN
    assert int(params.max_lock_wei) == s.max_lock_wei
    assert int(params.withdrawal_delay_s) == s.withdrawal_delay_s == 60
    assert int(params.l1_chain_id) == l1net.anvil.w3.eth.chain_id
    assert bytes(params.l1_contract_address).hex() == l1net.deployment.locking_address[2:].lower()
    # CometBFT keeps evidence exactly as long as the app's params say (and no longer than
    # withdrawals wait, or a double signer could be gone before its evidence lands).
    genesis = json.loads((l1net.nodes[0].home / "config" / "genesis.json").read_text())
    evidence = genesis["consensus_params"]["evidence"]
    assert evidence["max_age_duration"] == str(s.evidence_max_age_s * 10**9)
    assert evidence["max_age_num_blocks"] == str(s.max_evidence_age_blocks)
    assert s.evidence_max_age_s <= s.withdrawal_delay_s

    args = [sys.executable, "-m", "abci_app.node.cli", "genesis", "from-l1",
            "--rpc", l1net.anvil.url, "--contract", l1net.deployment.locking_address,
            "--block", str(l1net.genesis_block), "--params"]
    agreeing = tmp_path / "agree.json"
    agreeing.write_text(json.dumps({"withdrawal_delay_s": 60, "evidence_max_age_s": 60,
                                    "min_lock_wei": str(100 * TOKEN)}))
    ok = subprocess.run([*args, str(agreeing)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["params"]["withdrawal_delay_s"] == 60
    for name, value in (("withdrawal_delay_s", 86_400), ("min_lock_wei", "1000000000000000000"),
                        ("l1_chain_id", 1)):
        disagreeing = tmp_path / f"{name}.json"
        disagreeing.write_text(json.dumps({name: value, "evidence_max_age_s": 60}))
        refused = subprocess.run([*args, str(disagreeing)], capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode != 0, refused.stdout
        assert f"params.{name}" in refused.stderr and "Locking contract says" in refused.stderr
