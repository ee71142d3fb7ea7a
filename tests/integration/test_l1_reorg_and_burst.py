"""An L1 reorg drops an unconfirmed lock before the chain sees it, and a 500-event backlog
drains in bounded windows, on a real 4-validator net whose L1 mines only when told to.
"""

import base64
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import nacl.signing
import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from abci_app.devnet.anvil import DevAccount
from abci_app.devnet.localnet import LocalNode, wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet, L1Settings
from abci_app.handlers.proposals import compute_tx_proto_size
from abci_app.l1 import contract
from abci_app.l1.client import SidecarClient
from abci_app.relay.attested_tx import decode_attested_tx, is_attested_tx
from abci_app.relay.params import COMETBFT_MAX_BLOCK_BYTES, RelayParams

CONFIRMATIONS = 3
NEW_LOCK_WEI = 500 * TOKEN
REPLACEMENT_INCREASE_WEI = 7 * TOKEN
BURST_EVENTS = 500
BURST_STEP_WEI = 1 * TOKEN  # 125 steps per owner stay far below maxLock
BURST_OWNERS = 4


@pytest.fixture(scope="module")
def l1net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L1Localnet]:
    settings = L1Settings(l1_block_time_s=None, confirmations=CONFIRMATIONS)
    with L1Localnet(tmp_path_factory.mktemp("l1reorg"), 4, block_time_ms=300,
                     settings=settings, cometbft=cometbft_binary).running() as net:
        yield net


# --- helpers -------------------------------------------------------------------------------


def get_sequencer_ids(net: L1Localnet, node: int = 0) -> list[int]:
    return [int(s.id) for s in net.query("/sequencers", node).sequencers]


def get_sidecar_statuses(net: L1Localnet) -> list[Any]:
    """Every sidecar's StatusResponse (None for one that did not answer)."""
    statuses = []
    for index in range(len(net.nodes)):
        client = SidecarClient(net.sidecar_address(index))
        try:
            statuses.append(client.status(2.0))
        finally:
            client.close()
    return statuses


def wait_for_nonce(net: L1Localnet, nonce: int, what: str, timeout_s: float = 90,
                   sample: Callable[[], None] | None = None) -> int:
    """Waits until every node applied `nonce`, calling `sample` on each poll.

    Returns node 0's height once all did.
    """
    def check(index: int) -> bool:
        if sample is not None:
            sample()
        return net.last_applied_nonce(index) >= nonce

    for index in range(len(net.nodes)):
        wait_until(f"node {index} to apply L1 nonce {nonce} ({what})",
                   functools.partial(check, index), timeout_s)
    return net.nodes[0].height()


def wait_for_sidecars(net: L1Localnet, what: str, is_ready: Callable[[Any], bool],
                      sample: Callable[[], None]) -> None:
    def check() -> bool:
        sample()
        return all(s is not None and is_ready(s) for s in get_sidecar_statuses(net))

    wait_until(f"every sidecar to report {what}", check, 60)


def send_increase_burst(dep: contract.LockingDeployment, owners: list[DevAccount], count: int,
                        step_wei: int) -> list[HexBytes]:
    """Sends `count` increaseLock txs round-robin over the owners, without awaiting receipts.

    Each owner's sequencer id is its index + 1. Nonces, gas and fees are set
    here, so each send is one RPC call. Returns every owner's last tx hash.
    """
    w3 = dep.w3
    gas = 2 * dep.locking.functions.increaseLock(1, step_wei).estimate_gas(
        {"from": owners[0].address})
    gas_price = 10 * w3.eth.gas_price  # base fee rises while the burst fills blocks
    chain_id = w3.eth.chain_id
    nonces = [int(w3.eth.get_transaction_count(Web3.to_checksum_address(o.address), "pending"))
              for o in owners]
    last: list[HexBytes] = [HexBytes(b"")] * len(owners)
    for i in range(count):
        slot = i % len(owners)
        owner = owners[slot]
        data = dep.locking.functions.increaseLock(slot + 1, step_wei)._encode_transaction_data()
        tx = {"to": dep.locking.address, "data": data, "gas": gas, "gasPrice": gas_price,
              "nonce": nonces[slot], "chainId": chain_id, "value": 0}
        signed = Account.sign_transaction(tx, owner.private_key)
        last[slot] = w3.eth.send_raw_transaction(signed.raw_transaction)
        nonces[slot] += 1
    return last


def get_max_block_bytes(node: LocalNode) -> int:
    max_bytes = int(node.rpc("consensus_params")["consensus_params"]["block"]["max_bytes"])
    return COMETBFT_MAX_BLOCK_BYTES if max_bytes == -1 else max_bytes


def get_block_txs(node: LocalNode, height: int) -> list[bytes]:
    raw = node.rpc("block", height=height)["block"]["data"]["txs"] or []
    return [base64.b64decode(tx) for tx in raw]


def collect_attested_windows(node: LocalNode, first: int, last: int,
                             params: RelayParams) -> list[tuple[int, list[int]]]:
    """(height, applied nonces) of each block in [first, last] that carries attested events.

    Checks on the way that no block and no attested tx exceeds its size limit,
    that no window exceeds the per-extension event cap, and that each attested
    tx executed with code 0.
    """
    max_block_bytes = get_max_block_bytes(node)
    windows = []
    for height in range(first, last + 1):
        txs = get_block_txs(node, height)
        total = sum(compute_tx_proto_size(tx) for tx in txs)
        assert total <= max_block_bytes, f"block {height}: {total} tx bytes > {max_block_bytes}"
        if not txs or not is_attested_tx(txs[0]):
            continue
        body = decode_attested_tx(txs[0])
        assert body is not None, f"block {height}: attested tx does not decode"
        assert len(txs[0]) <= params.max_attested_tx_bytes, (
            f"block {height}: attested tx of {len(txs[0])} bytes")
        assert len(body.events) <= params.max_events_per_extension, (
            f"block {height}: {len(body.events)} events in one window")
        result = node.rpc("block_results", height=height)["txs_results"][0]
        assert int(result.get("code", 0)) == 0, f"block {height}: attested tx failed: {result}"
        windows.append((height, [int(e.nonce) for e in body.events]))
    return windows


# --- tests ---------------------------------------------------------------------------------


def test_lock_dropped_by_l1_reorg_is_never_applied_and_the_replacement_takes_its_nonce(
    l1net: L1Localnet,
) -> None:
    net, dep, anvil = l1net, l1net.deployment, l1net.anvil
    spare, owner = net.owner(len(net.nodes)), net.owner(0)
    base_nonce = contract.get_event_nonce(dep)
    wait_for_nonce(net, base_nonce, "every event before the reorg")
    genesis_ids = get_sequencer_ids(net)
    locked_before = int(net.query("/sequencer/1").sequencer.locked_wei)

    def assert_no_new_sequencer() -> None:
        ids = get_sequencer_ids(net)
        assert ids == genesis_ids, f"the dropped lock appeared on chain: sequencers {ids}"

    # Approvals go below the fork so that each side of it is one Locking tx.
    contract.approve_locking(dep, spare.private_key, NEW_LOCK_WEI)
    contract.approve_locking(dep, owner.private_key, REPLACEMENT_INCREASE_WEI)
    fork_block = int(anvil.w3.eth.block_number)
    snapshot = anvil.snapshot()

    consensus_key = nacl.signing.SigningKey.generate().verify_key.encode()
    lock_receipt = contract.lock(dep, spare.private_key, spare.address, consensus_key,
                                 NEW_LOCK_WEI, approve=False)
    assert contract.get_event_nonce(dep) == base_nonce + 1
    anvil.mine(CONFIRMATIONS - 1)  # one block short of confirming the lock
    head = int(anvil.w3.eth.block_number)
    wait_for_sidecars(net, f"the lock seen but unconfirmed at head {head}",
                      lambda s: s.scanned_l1_height == head and s.pending_events == 1
                      and s.last_observed_nonce == base_nonce, assert_no_new_sequencer)
    assert net.last_applied_nonce() == base_nonce

    anvil.revert(snapshot)
    assert int(anvil.w3.eth.block_number) == fork_block
    wait_for_sidecars(net, f"the lock dropped after the revert to block {fork_block}",
                      lambda s: s.scanned_l1_height == fork_block and s.pending_events == 0,
                      assert_no_new_sequencer)

    replacement = contract.increase_lock(dep, owner.private_key, 1, REPLACEMENT_INCREASE_WEI,
                                         approve=False)
    assert contract.get_event_nonce(dep) == base_nonce + 1  # the same nonce, another event
    anvil.mine(CONFIRMATIONS)
    applied_height = wait_for_nonce(net, base_nonce + 1, "the replacement increase_lock",
                                    sample=assert_no_new_sequencer)

    for index in range(len(net.nodes)):
        assert get_sequencer_ids(net, index) == genesis_ids
        locked = int(net.query("/sequencer/1", index).sequencer.locked_wei)
        assert locked == locked_before + REPLACEMENT_INCREASE_WEI, f"node {index}: {locked}"
        assert net.last_applied_nonce(index) == base_nonce + 1
    assert all(s.last_observed_nonce == base_nonce + 1 for s in get_sidecar_statuses(net))
    print(f"reorg: lock (nonce {base_nonce + 1}, L1 block {lock_receipt['blockNumber']}) seen "
          f"unconfirmed by all sidecars, dropped by a revert to block {fork_block}; "
          f"increase_lock took nonce {base_nonce + 1} in L1 block "
          f"{replacement['blockNumber']} and was applied by chain height {applied_height}")


def test_500_event_backlog_is_applied_in_order_in_bounded_windows(l1net: L1Localnet) -> None:
    net, dep, anvil = l1net, l1net.deployment, l1net.anvil
    params = RelayParams()
    start_nonce = contract.get_event_nonce(dep)
    wait_for_nonce(net, start_nonce, "every event before the burst")
    owners = [net.owner(i) for i in range(BURST_OWNERS)]
    steps_per_owner = -(-BURST_EVENTS // BURST_OWNERS)  # rounds up: enough allowance for all
    locked_before = [int(net.query(f"/sequencer/{i + 1}").sequencer.locked_wei)
                     for i in range(BURST_OWNERS)]
    for o in owners:
        contract.approve_locking(dep, o.private_key, steps_per_owner * BURST_STEP_WEI)

    for index in range(len(net.nodes)):
        net.stop_sidecar(index)
    target = start_nonce + BURST_EVENTS
    anvil.set_automine(False)
    try:
        last_hashes = send_increase_burst(dep, owners, BURST_EVENTS, BURST_STEP_WEI)

        def mine_until_burst_included() -> bool:
            anvil.mine(1)
            return contract.get_event_nonce(dep) >= target

        wait_until(f"L1 to include the {BURST_EVENTS}-tx burst", mine_until_burst_included, 60)
    finally:
        anvil.set_automine(True)
    for tx_hash in last_hashes:
        assert anvil.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert contract.get_event_nonce(dep) == target
    anvil.mine(CONFIRMATIONS)
    assert net.last_applied_nonce() == start_nonce  # nothing relayed while sidecars are down

    restart_height = net.nodes[0].height()
    started = time.monotonic()
    for index in range(len(net.nodes)):
        net.start_sidecar(index)
    end_height = wait_for_nonce(net, target, f"the {BURST_EVENTS}-event backlog", 120)
    seconds = time.monotonic() - started

    windows = collect_attested_windows(net.nodes[0], restart_height, end_height, params)
    nonces = [n for _, window in windows for n in window]
    assert nonces == list(range(start_nonce + 1, target + 1)), (
        f"nonces not consecutive: {len(nonces)} applied, first {nonces[:3]}, last {nonces[-3:]}")
    for i in range(BURST_OWNERS):
        steps = len(range(i, BURST_EVENTS, BURST_OWNERS))
        locked = int(net.query(f"/sequencer/{i + 1}").sequencer.locked_wei)
        assert locked == locked_before[i] + steps * BURST_STEP_WEI, f"sequencer {i + 1}"
    most = max(len(window) for _, window in windows)
    span = windows[-1][0] - windows[0][0] + 1
    print(f"{BURST_EVENTS} events applied in {len(windows)} blocks (heights {windows[0][0]}.."
          f"{windows[-1][0]}, span {span}), {seconds:.1f} seconds, max {most} events per block "
          f"(cap {params.max_events_per_extension})")
