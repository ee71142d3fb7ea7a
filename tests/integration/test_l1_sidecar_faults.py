"""Lagging and dead sidecars on a real 4-validator net (issue 9, acceptance 6).

Node 3's sidecar waits LAGGING_CONFIRMATIONS L1 blocks, far behind the
others, for the whole module. The tests run in order: a lagging sidecar
does not stall the chain (heimdall-v2 #616); two dead sidecars leave blocks
going while events wait; after restarts every event arrives exactly once.
"""

import base64
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet, L1Settings
from abci_app.l1 import contract
from abci_app.l1.client import SidecarClient
from abci_app.relay.attested_tx import decode_attested_tx, is_attested_tx

LAGGING_NODE = 3
LAGGING_CONFIRMATIONS = 30  # with 1 s L1 blocks: about 30 s behind the others
DEAD_SIDECARS = (1, 2)
RESTARTED_NODE = 2
BLOCKS_WHILE_WAITING = 10
GENESIS_IDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def l1net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L1Localnet]:
    settings = L1Settings(l1_block_time_s=1)
    # A node restart must not jail anyone for downtime: the state check compares
    # locked amounts with L1, and a jailed validator would change who attests.
    net = L1Localnet(tmp_path_factory.mktemp("l1faults"), 4, block_time_ms=300,
                     settings=settings, params={"min_signed_bps": 0},
                     cometbft=cometbft_binary)
    try:
        net.init()
        set_sidecar_confirmations(net.nodes[LAGGING_NODE].home, settings.confirmations,
                                  LAGGING_CONFIRMATIONS)
        net.start()
        net.net.wait_for_height(3)
        yield net
    finally:
        net.stop()


def set_sidecar_confirmations(home: Path, old: int, new: int) -> None:
    path = home / "config" / "seqset.toml"
    text = path.read_text()
    line = f"confirmations = {old}"
    assert text.count(line) == 1, f"expected one '{line}' in {path}"
    path.write_text(text.replace(line, f"confirmations = {new}"))


def get_sidecar_status(net: L1Localnet, index: int) -> Any:
    status = SidecarClient(net.sidecar_address(index)).status(2.0)
    assert status is not None, f"sidecar {index} did not answer Status"
    return status


def wait_for_nonce_everywhere(net: L1Localnet, nonce: int, what: str) -> None:
    def has_applied(index: int) -> bool:
        return net.last_applied_nonce(index) >= nonce

    for node in net.nodes:
        wait_until(f"node {node.index} to apply L1 nonce {nonce} ({what})",
                   partial(has_applied, node.index), 90)


def find_rejections(net: L1Localnet) -> list[str]:
    """Every REJECT line (proposal or vote extension) in every node's app log."""
    lines = []
    for node in net.nodes:
        log = node.home / "logs" / "app.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        lines += [f"node {node.index}: {line}" for line in text.splitlines() if "REJECT" in line]
    return lines


def get_applied_nonces(net: L1Localnet, first: int, last: int) -> list[tuple[int, int]]:
    """(height, nonce) for each event applied by a block in [first, last], in order.

    Only attested txs FinalizeBlock accepted (code 0) count: a rejected one
    applies nothing, so its events would show up again in a later block.
    """
    node = net.nodes[0]
    applied = []
    for height in range(first, last + 1):
        txs = node.rpc("block", height=height)["block"]["data"]["txs"] or []
        raw = base64.b64decode(txs[0]) if txs else b""
        if not is_attested_tx(raw):
            continue
        body = decode_attested_tx(raw)
        assert body is not None, f"height {height}: attested tx does not decode"
        result = node.rpc("block_results", height=height)["txs_results"][0]
        if int(result.get("code", 0)) != 0:
            print(f"height {height}: attested tx not applied: {result.get('log')}")
            continue
        applied += [(height, int(event.nonce)) for event in body.events]
    return applied


def test_lagging_sidecar_does_not_stall_the_chain(l1net: L1Localnet) -> None:
    dep = l1net.deployment
    start_nonce = l1net.last_applied_nonce()
    start_height = l1net.nodes[0].height()

    contract.increase_lock(dep, l1net.owner(0).private_key, 1, 50 * TOKEN)
    target = contract.get_event_nonce(dep)
    assert target == start_nonce + 1
    wait_for_nonce_everywhere(l1net, target, "increase with one sidecar lagging")
    applied_height = l1net.nodes[0].height()

    # The event went in while the lagging sidecar had not confirmed it yet.
    lagging = get_sidecar_status(l1net, LAGGING_NODE)
    fresh = get_sidecar_status(l1net, 0)
    print(f"lagging sidecar: confirmed L1 block {lagging.confirmed_l1_height} "
          f"(nonce {lagging.last_observed_nonce}), others: "
          f"{fresh.confirmed_l1_height} (nonce {fresh.last_observed_nonce}), "
          f"L1 head {fresh.l1_head}; event applied within "
          f"{applied_height - start_height} chain blocks")
    assert lagging.last_observed_nonce < target, (
        "the lagging sidecar already had the event: applying it took longer than its lag")
    assert (fresh.confirmed_l1_height - lagging.confirmed_l1_height
            >= LAGGING_CONFIRMATIONS // 2)

    l1net.net.wait_for_height(applied_height + 5)
    assert int(l1net.query("/sequencer/1").sequencer.locked_wei) == (1_000 + 50) * TOKEN
    assert find_rejections(l1net) == []


def test_two_dead_sidecars_hold_events_while_blocks_continue(l1net: L1Localnet) -> None:
    dep = l1net.deployment
    for index in DEAD_SIDECARS:
        l1net.stop_sidecar(index)
    held = l1net.last_applied_nonce()
    contract.increase_lock(dep, l1net.owner(1).private_key, 2, 10 * TOKEN)
    contract.request_withdrawal(dep, l1net.owner(0).private_key, 1, 20 * TOKEN)
    contract.increase_lock(dep, l1net.owner(2).private_key, 3, 7 * TOKEN)
    target = contract.get_event_nonce(dep)
    # The live, fresh sidecar offers every event: what is missing is votes, not data.
    wait_until(f"sidecar 0 to confirm L1 nonce {target}",
               lambda: get_sidecar_status(l1net, 0).last_observed_nonce >= target, 90)
    start_height = l1net.nodes[0].height()

    # A node restart meanwhile: the other three keep committing without it.
    restarted = l1net.nodes[RESTARTED_NODE]
    restarted.stop()
    l1net.nodes[0].wait_for_height(start_height + 2, 90)
    restarted.start()
    end_height = l1net.nodes[0].wait_for_height(start_height + BLOCKS_WHILE_WAITING, 90)
    restarted.wait_for_height(end_height, 90)

    nonces = [l1net.last_applied_nonce(node.index) for node in l1net.nodes]
    print(f"2 of 4 sidecars dead: chain went {start_height} -> {end_height} "
          f"(+{end_height - start_height} blocks, node {RESTARTED_NODE} restarted), "
          f"applied nonce {nonces} held while L1 is at {target}")
    assert end_height - start_height >= BLOCKS_WHILE_WAITING
    assert nonces == [held] * len(l1net.nodes)
    assert held < target


def test_restarted_sidecars_deliver_every_event_once(l1net: L1Localnet) -> None:
    dep = l1net.deployment
    for index, proc in enumerate(l1net.sidecars):
        if proc is None:
            l1net.start_sidecar(index)
    target = contract.get_event_nonce(dep)
    wait_for_nonce_everywhere(l1net, target, "after the sidecars restarted")

    # Every block from genesis on: each nonce after genesis applied exactly once.
    genesis_nonce = contract.get_event_nonce(dep, l1net.genesis_block)
    last_height = l1net.nodes[0].height()
    applied = get_applied_nonces(l1net, 1, last_height)
    print(f"attested events over heights 1..{last_height}: "
          + ", ".join(f"h{height}:n{nonce}" for height, nonce in applied))
    assert [nonce for _, nonce in applied] == list(range(genesis_nonce + 1, target + 1))

    for node in l1net.nodes:
        assert l1net.last_applied_nonce(node.index) == target
        for sequencer_id in GENESIS_IDS:
            on_chain = int(l1net.query(f"/sequencer/{sequencer_id}", node.index)
                           .sequencer.locked_wei)
            on_l1 = contract.get_sequencer(dep, sequencer_id).amount_wei
            assert on_chain == on_l1, (f"node {node.index}, sequencer {sequencer_id}: "
                                       f"chain {on_chain} != L1 {on_l1}")
    assert find_rejections(l1net) == []
