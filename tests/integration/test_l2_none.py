"""Issue 13, acceptance 3: with no L2 registered the chain is a plain validator set.

A real 4-validator net whose genesis has l2_chain_id = 0 and a rotation
timeout of ROTATION_TIMEOUT_S, while an L2 node does exist: the sidecars
follow it and the agents run, and the test mines L2 blocks itself, so there
is something that could (wrongly) be attested. After several rotation
timeouts of block time nobody is slashed or jailed (consensus or producer),
no fault event was emitted, no L2 header was attested and /l2/head says no L2
is registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from abci_app.devnet.l2_audit import (
    FAULT_EVENT_TYPES,
    NS_PER_S,
    get_attested_headers,
    get_block_time_ns,
    get_cometbft_powers,
    get_events,
    get_recorded_faults,
)
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings

pytestmark = pytest.mark.integration

ROTATION_TIMEOUT_S = 2
TIMEOUTS = 6  # how many rotation timeouts of block time the chain runs
L2_BLOCKS = 3


def test_no_l2_registered_jails_and_slashes_nobody_and_attests_no_header(
    tmp_path: Path, cometbft_binary: str,
) -> None:
    net = L2Localnet(tmp_path / "net", 4, block_time_ms=500, cometbft=cometbft_binary,
                     l2=L2Settings(rotation_timeout_s=ROTATION_TIMEOUT_S, epoch_length=5),
                     params={"l2_chain_id": 0, "l2_genesis_hash": ""})
    with net.running(height=2):
        node = net.nodes[0]
        for _ in range(L2_BLOCKS):  # an L2 the sidecars see, whoever the agents think they are
            net.l2.rpc("evm_mine", [])
        start_ns = get_block_time_ns(node, 2)
        wait_until(f"{TIMEOUTS} rotation timeouts of block time",
                   lambda: get_block_time_ns(node, node.height()) - start_ns
                   >= TIMEOUTS * ROTATION_TIMEOUT_S * NS_PER_S, 60)
        last = node.height()
        answer = node.abci_query("/l2/head")
        faults = get_recorded_faults(node)
        events = get_events(node, 1, last, FAULT_EVENT_TYPES)
        headers = get_attested_headers(node, 1, last)
        powers = get_cometbft_powers(node)
        l2_height = net.l2_head().height
    print(f"{last} blocks, L2 height {l2_height}; faults {faults}; fault events {len(events)}; "
          f"attested headers {len(headers)}; powers {sorted(powers.values())}")
    assert l2_height >= L2_BLOCKS, "the L2 had no block that could have been attested"
    assert not faults, faults
    assert not events, events
    assert not headers, f"L2 headers attested with no L2 registered: {headers[:3]}"
    assert answer.get("code", 0) != 0 and "no L2" in answer.get("log", ""), answer
    assert sorted(powers.values()) == [1000] * 4, powers
