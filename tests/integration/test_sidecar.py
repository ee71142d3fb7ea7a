"""The sidecar against a real anvil and the real Locking contract."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from abci_app.devnet import l1_deploy
from abci_app.devnet.anvil import Anvil
from abci_app.l1 import contract
from abci_app.l1.client import SidecarClient
from abci_app.l1.sidecar import SidecarConfig, run_sidecar

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ETHER = 10**18
CONFIRMATIONS = 2


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class L1Setup:
    anvil: Anvil
    dep: contract.LockingDeployment
    admin: str
    owners: list[str]  # private keys of whitelisted, funded owners
    signers: list[str]  # fresh addresses


@pytest.fixture
def l1() -> Iterator[L1Setup]:
    with Anvil() as anvil:
        admin = anvil.accounts[0].private_key
        dep = l1_deploy.deploy_locking(anvil.w3, admin, min_lock_wei=ETHER,
                                      max_lock_wei=100 * ETHER, withdrawal_delay_s=0)
        owners = [a.private_key for a in anvil.accounts[1:4]]
        for account in anvil.accounts[1:4]:
            l1_deploy.mint(dep, admin, account.address, 50 * ETHER)
            contract.set_whitelisted(dep, admin, account.address, True)
        signers = [a.address for a in anvil.accounts[4:10]]
        yield L1Setup(anvil, dep, admin, owners, signers)


class RunningSidecar:
    def __init__(self, home: Path, config: SidecarConfig) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_sidecar, args=(str(home), config, self.stop))
        self.thread.start()
        self.client = SidecarClient(config.listen_address)

    def observed(self) -> list[Any]:
        return self.client.observed(0, 1000, 1_000_000, 2.0)

    def status(self) -> Any:
        status = self.client.status(2.0)
        assert status is not None, "sidecar status unavailable"
        return status

    def wait_scanned(self, block: int, pending: int) -> None:
        def ready() -> bool:
            status = self.client.status(2.0)
            return status is not None and status.scanned_l1_height >= block \
                and status.pending_events >= pending
        wait_for(ready, f"the sidecar to scan block {block} with {pending} pending events")

    def wait_nonce(self, nonce: int) -> list[Any]:
        wait_for(lambda: len(self.observed()) >= nonce, f"nonce {nonce} to be observed")
        return self.observed()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        self.client.close()
        assert not self.thread.is_alive(), "sidecar did not stop"


@pytest.fixture
def start_sidecar(l1: L1Setup, tmp_path: Path) -> Iterator[Callable[[], RunningSidecar]]:
    home = tmp_path / "sidecar"
    config = SidecarConfig(
        l1_rpc_url=l1.anvil.url, contract_address=l1.dep.locking_address,
        start_block=l1.dep.deploy_block, confirmations=CONFIRMATIONS, poll_interval_s=0.05,
        max_backoff_s=0.5, listen_address=f"unix:{tmp_path / 'sidecar.sock'}", chain_id=31337)
    running: list[RunningSidecar] = []

    def start() -> RunningSidecar:
        running.append(RunningSidecar(home, config))
        return running[-1]

    yield start
    for sidecar in running:
        if sidecar.thread.is_alive():
            sidecar.close()


def get_head(l1: L1Setup) -> int:
    return int(l1.anvil.w3.eth.block_number)


def test_owner_actions_are_observed_after_confirmations(
        l1: L1Setup, start_sidecar: Callable[[], RunningSidecar]) -> None:
    sidecar = start_sidecar()
    owner, dep = l1.owners[0], l1.dep
    contract.lock(dep, owner, l1.signers[0], b"\x01" * 32, 10 * ETHER)
    contract.increase_lock(dep, owner, 1, 5 * ETHER)
    contract.change_signer(dep, owner, 1, l1.signers[1])
    contract.request_withdrawal(dep, owner, 1, 2 * ETHER)
    contract.initiate_unlock(dep, owner, 1)
    head = get_head(l1)
    sidecar.wait_scanned(head, pending=1)
    assert all(e.l1_block_number + CONFIRMATIONS <= head for e in sidecar.observed())
    assert len(sidecar.observed()) < 5  # the unlock in the head block is not yet confirmed
    l1.anvil.mine(CONFIRMATIONS)
    events = sidecar.wait_nonce(5)
    assert [e.nonce for e in events] == [1, 2, 3, 4, 5]
    assert [e.WhichOneof("kind") for e in events] == [
        "locked", "lock_increased", "signer_changed", "withdrawal_requested", "unlock_initiated"]
    assert events[0].locked.amount_wei == str(10 * ETHER)
    assert events[0].locked.consensus_pubkey == b"\x01" * 32
    assert events[1].lock_increased.new_total_wei == str(15 * ETHER)
    assert events[2].signer_changed.new_signer == bytes.fromhex(l1.signers[1][2:])
    assert events[3].withdrawal_requested.remaining_wei == str(13 * ETHER)
    assert events[4].unlock_initiated.amount_wei == str(13 * ETHER)
    block = l1.anvil.w3.eth.get_block(events[4].l1_block_number)
    assert events[4].l1_block_hash == bytes(block["hash"])
    status = sidecar.status()
    assert (status.last_observed_nonce, status.halted, status.chain_id) == (5, False, 31337)


def test_reverted_unconfirmed_lock_is_replaced_at_the_same_nonce(
        l1: L1Setup, start_sidecar: Callable[[], RunningSidecar]) -> None:
    sidecar = start_sidecar()
    dep = l1.dep
    contract.lock(dep, l1.owners[0], l1.signers[0], b"\x01" * 32, 10 * ETHER)
    l1.anvil.mine(CONFIRMATIONS)
    sidecar.wait_nonce(1)
    snapshot = l1.anvil.snapshot()
    contract.lock(dep, l1.owners[1], l1.signers[1], b"\x02" * 32, 20 * ETHER)
    sidecar.wait_scanned(get_head(l1), pending=1)
    l1.anvil.revert(snapshot)
    contract.lock(dep, l1.owners[2], l1.signers[2], b"\x03" * 32, 30 * ETHER)
    l1.anvil.mine(CONFIRMATIONS)
    events = sidecar.wait_nonce(2)
    assert [e.nonce for e in events] == [1, 2]
    assert events[1].locked.consensus_pubkey == b"\x03" * 32
    assert events[1].locked.amount_wei == str(30 * ETHER)
    block = l1.anvil.w3.eth.get_block(events[1].l1_block_number)
    assert events[1].l1_block_hash == bytes(block["hash"])
    assert not sidecar.status().halted


def test_restart_resumes_with_no_gap_and_no_duplicate(
        l1: L1Setup, start_sidecar: Callable[[], RunningSidecar]) -> None:
    sidecar = start_sidecar()
    dep, owner = l1.dep, l1.owners[0]
    contract.lock(dep, owner, l1.signers[0], b"\x01" * 32, 10 * ETHER)
    contract.increase_lock(dep, owner, 1, ETHER)
    l1.anvil.mine(CONFIRMATIONS)
    sidecar.wait_nonce(2)
    sidecar.close()
    contract.increase_lock(dep, owner, 1, ETHER)  # while the sidecar is down
    contract.change_signer(dep, owner, 1, l1.signers[1])
    l1.anvil.mine(CONFIRMATIONS)
    restarted = start_sidecar()
    events = restarted.wait_nonce(4)
    assert [e.nonce for e in events] == [1, 2, 3, 4]
    assert restarted.status().last_observed_nonce == 4


def test_reorg_deeper_than_confirmations_halts_but_keeps_serving(
        l1: L1Setup, start_sidecar: Callable[[], RunningSidecar]) -> None:
    sidecar = start_sidecar()
    contract.lock(l1.dep, l1.owners[0], l1.signers[0], b"\x01" * 32, 10 * ETHER)
    l1.anvil.mine(CONFIRMATIONS)
    sidecar.wait_nonce(1)
    l1.anvil.reorg(CONFIRMATIONS + 1)  # replaces the lock's block with an empty one
    l1.anvil.mine(1)
    wait_for(lambda: sidecar.status().halted, "the watcher to halt on a deep reorg")
    assert [e.nonce for e in sidecar.observed()] == [1]
    assert "changed hash" in sidecar.status().last_error


def test_sidecar_process_stops_cleanly_on_sigterm(l1: L1Setup, tmp_path: Path) -> None:
    socket_path = tmp_path / "p.sock"
    script = (
        "import logging, sys; logging.basicConfig(level='INFO');"
        "from abci_app.l1.sidecar import SidecarConfig, run_sidecar;"
        f"run_sidecar({str(tmp_path / 'home')!r}, SidecarConfig(l1_rpc_url={l1.anvil.url!r}, "
        f"contract_address={l1.dep.locking_address!r}, start_block={l1.dep.deploy_block}, "
        f"confirmations=0, poll_interval_s=0.05, listen_address='unix:{socket_path}'))"
    )
    contract.lock(l1.dep, l1.owners[0], l1.signers[0], b"\x01" * 32, 10 * ETHER)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = SidecarClient(f"unix:{socket_path}")
    try:
        wait_for(lambda: len(client.observed(0, 10, 100_000, 1.0)) == 1,
                 "the sidecar process to serve nonce 1")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, output.decode(errors="replace")[-2000:]
    assert b"sidecar stopped" in output
