"""A localnet with an L2: the L1 localnet plus an L2 anvil and one sequencer agent per validator.

The L2 is a second anvil with its own chain id, started with mining off, so a
block exists only when an agent mines it (`seqset sequencer`, logs in
nodes/node*/logs/sequencer.log). Genesis registers the L2 (its chain id and
block 0 hash) with a short epoch, and every sidecar follows the L2 node.
Test helpers: start/stop one agent or a whole validator (app, cometbft,
sidecar, agent), read the L2 head, send an L2 transaction, wait for an L2
height.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abci_app.devnet.anvil import Anvil
from abci_app.devnet.localnet import (
    SEQSET_COMMAND,
    LocalNode,
    free_metrics_address,
    read_metrics_url,
    stop_process,
    wait_until,
)
from abci_app.devnet.localnet_l1 import L1Localnet, query_node
from abci_app.l2.source import L2Block, L2JsonRpc

L2_CHAIN_ID = 901


@dataclass(frozen=True)
class L2Settings:
    chain_id: int = L2_CHAIN_ID
    block_interval_ms: int = 1000
    epoch_length: int = 20  # L2 blocks: a new producer about every 20 s
    rotation_timeout_s: int = 10
    agent_poll_interval_ms: int = 100
    sidecar_l2_poll_interval_s: float = 0.2


class L2Localnet(L1Localnet):
    def __init__(self, base: Path, size: int, *, l2: L2Settings | None = None,
                 l2_port: int = 0, **kwargs: Any) -> None:
        """kwargs go to L1Localnet; `l2_port` reopens an existing network's L2."""
        super().__init__(base, size, **kwargs)
        self.l2_settings = l2 or L2Settings()
        self.l2 = Anvil(chain_id=self.l2_settings.chain_id, mining=False,
                        accounts=size + 2, state_file=base / "l2-anvil-state.json",
                        port=l2_port)
        self.agents: list[subprocess.Popen[bytes] | None] = [None] * size

    # --- setup -------------------------------------------------------------------------

    def compute_l2_params(self, genesis_hash: str) -> dict[str, Any]:
        s = self.l2_settings
        return {"l2_chain_id": s.chain_id, "l2_genesis_hash": genesis_hash,
                "l2_block_interval_ms": s.block_interval_ms, "epoch_length": s.epoch_length,
                "rotation_timeout_s": s.rotation_timeout_s, **(self.params or {})}

    def init(self) -> None:
        (self.net.base.parent / "l2-anvil-state.json").unlink(missing_ok=True)
        self.l2.start()
        genesis = self.l2.rpc("eth_getBlockByNumber", ["0x0", False])
        self.params = self.compute_l2_params(str(genesis["hash"]))
        super().init()

    def resume(self, locking_address: str, deploy_block: int) -> None:
        super().resume(locking_address, deploy_block)
        self.l2.start()

    def sidecar_toml(self, node: LocalNode) -> str:
        s = self.l2_settings
        return super().sidecar_toml(node) + "\n".join([
            f'l2_rpc_url = "{self.l2.url}"',
            f"l2_chain_id = {s.chain_id}",
            f"l2_poll_interval_s = {s.sidecar_l2_poll_interval_s}",
            "", "[sequencer]",
            f'l2_rpc_url = "{self.l2.url}"',
            f'node_rpc_url = "{node.rpc_url}"',
            f"poll_interval_ms = {s.agent_poll_interval_ms}",
            f'metrics_address = "{free_metrics_address()}"',
        ]) + "\n"

    def agent_metrics_url(self, index: int) -> str:
        return read_metrics_url(self.nodes[index].home, "sequencer")

    # --- processes --------------------------------------------------------------------

    def start_agent(self, index: int) -> None:
        node = self.nodes[index]
        self.agents[index] = node._spawn(
            "sequencer", [*SEQSET_COMMAND, "sequencer", "--home", str(node.home)])

    def stop_agent(self, index: int) -> None:
        stop_process(self.agents[index])
        self.agents[index] = None

    def start(self) -> None:
        super().start()
        for i in range(len(self.nodes)):
            self.start_agent(i)

    def stop(self) -> None:
        for i in range(len(self.agents)):
            self.stop_agent(i)
        super().stop()
        self.l2.stop()

    def stop_validator(self, index: int) -> None:
        """Stops everything of validator `index`: agent, cometbft, app and sidecar."""
        self.stop_agent(index)
        self.nodes[index].stop()
        self.stop_sidecar(index)

    def start_validator(self, index: int) -> None:
        self.start_sidecar(index)
        self.nodes[index].start()
        self.start_agent(index)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """Every process of the network, L2 anvil first (for `localnet down`, stopped last)."""
        procs = [self.l2._proc, self.anvil._proc, *self.sidecars, *self.agents, self.relayer]
        procs += [p for n in self.nodes for p in (n.app_proc, n.cometbft_proc)]
        return [p for p in procs if p is not None]

    # --- the L2 ---------------------------------------------------------------------------

    @property
    def l2_rpc(self) -> L2JsonRpc:
        return L2JsonRpc(self.l2.url)

    def l2_head(self) -> L2Block:
        number = self.l2_rpc.get_head_number()
        block = self.l2_rpc.get_block(number)
        if block is None:
            raise RuntimeError(f"the L2 has no block {number}, its own head")
        return block

    def l2_block(self, height: int) -> L2Block | None:
        return self.l2_rpc.get_block(height)

    def send_l2_tx(self, value_wei: int = 1, sender: int = 0) -> str:
        """A transfer between dev accounts, left pending until the next producer mines; its hash."""
        accounts = self.l2.accounts
        tx = {"from": accounts[sender].address, "to": accounts[-1].address,
              "value": hex(value_wei)}
        return str(self.l2.rpc("eth_sendTransaction", [tx]))

    def l2_tx_block(self, tx_hash: str) -> int | None:
        """The L2 height that included `tx_hash`, or None while it is pending."""
        receipt = self.l2.rpc("eth_getTransactionReceipt", [tx_hash])
        return int(receipt["blockNumber"], 16) if receipt else None

    def wait_for_l2_height(self, height: int, timeout_s: float = 60) -> L2Block:
        def reached() -> L2Block | None:
            head = self.l2_head()
            return head if head.height >= height else None

        block: L2Block = wait_until(f"the L2 to reach height {height}", reached, timeout_s)
        return block

    def chain_l2_head(self, node: int = 0) -> Any:
        """The chain's attested L2 head and producers (/l2/head)."""
        return query_node(self.nodes[node], "/l2/head")

    def scheduled_producer(self, l2_height: int, node: int = 0) -> int:
        """The sequencer id /sequencer_at names for `l2_height` (0: nobody)."""
        return int(query_node(self.nodes[node], f"/sequencer_at/{l2_height}").sequencer_id)

    def wait_for_attested_l2_height(self, height: int, timeout_s: float = 60,
                                    node: int = 0) -> Any:
        """Waits until the chain (node `node`) attested L2 block `height`; its /l2/head."""
        def reached() -> Any:
            head = self.chain_l2_head(node)
            return head if head.height >= height else None

        return wait_until(f"node {node} to attest L2 height {height}", reached, timeout_s)
