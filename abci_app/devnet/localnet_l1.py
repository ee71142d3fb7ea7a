"""A localnet whose sequencers lock on a real L1: anvil, the Locking contract and one sidecar each.

Genesis comes from the contract (`build_app_state_from_l1`), and from then on
the chain learns of L1 only through attested events relayed by the sidecars.
"""

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from abci_app.chain.messages import state as state_pb
from abci_app.chain.query import decode_query_value
from abci_app.devnet.anvil import Anvil, DevAccount
from abci_app.devnet.l1_deploy import deploy_locking, mint
from abci_app.devnet.localnet import (
    DEFAULT_COMETBFT,
    SEQSET_COMMAND,
    Localnet,
    LocalNode,
    free_metrics_address,
    read_metrics_url,
    stop_process,
    wait_until,
)
from abci_app.devnet.ports import free_ports
from abci_app.l1.contract import (
    LockingDeployment,
    attach_locking,
    get_last_batch_nonce,
    lock,
    set_whitelisted,
)
from abci_app.l1.genesis import build_app_state_from_l1
from abci_app.l1.relayer import PENDING_PATH, PendingBatch, parse_pending
from abci_app.node.config import CONFIG_RELATIVE_PATH
from abci_app.node.home import NodePorts, read_signer_key, read_validator_pubkey

TOKEN = 10**18


@dataclass(frozen=True)
class L1Settings:
    confirmations: int = 2
    l1_block_time_s: int | None = 1  # None: anvil mines only on transactions (tests mine)
    min_lock_wei: int = 100 * TOKEN
    max_lock_wei: int = 100_000 * TOKEN
    withdrawal_delay_s: int = 60
    genesis_lock_wei: int = 1_000 * TOKEN
    poll_interval_s: float = 0.3
    spare_owners: int = 3  # funded, whitelisted accounts for sequencers that join later
    # CometBFT keeps evidence this long, and withdrawals wait at least as long (genesis
    # refuses withdrawal_delay_s < evidence_max_age_s): a short window for the devnet.
    evidence_max_age_s: int = 60
    max_evidence_age_blocks: int = 120
    settlement_interval_blocks: int = 5
    run_relayer: bool = True  # one `seqset relayer` (node 0's chain, logs in relayer.log)
    relayer_poll_interval_s: float = 0.5


class L1Localnet:
    def __init__(self, base: Path, size: int, *, block_time_ms: int = 500,
                 settings: L1Settings | None = None, params: dict[str, Any] | None = None,
                 chain_id: str = "seqset-localnet", cometbft: str = DEFAULT_COMETBFT,
                 anvil_state: Path | None = None, ports: list[NodePorts] | None = None,
                 sidecar_ports: list[int] | None = None, anvil_port: int = 0) -> None:
        """The port arguments reopen an existing network; by default free ports are picked."""
        self.settings = settings or L1Settings()
        self.params = params
        self.sidecar_ports = sidecar_ports or free_ports(size)
        self.net = Localnet(base / "nodes", size, chain_id=chain_id,
                            block_time_ms=block_time_ms, cometbft=cometbft,
                            app_overrides={"extend_vote_timeout_ms": 300}, ports=ports)
        # Admin, one owner per validator, the spares, then the relayer's gas payer.
        self.anvil = Anvil(block_time_s=self.settings.l1_block_time_s,
                           accounts=size + 2 + self.settings.spare_owners,
                           state_file=anvil_state, port=anvil_port)
        self.sidecars: list[subprocess.Popen[bytes] | None] = [None] * size
        self.relayer: subprocess.Popen[bytes] | None = None
        self.dep: LockingDeployment | None = None
        self.genesis_block = 0

    @property
    def nodes(self) -> list[LocalNode]:
        return self.net.nodes

    @property
    def admin(self) -> DevAccount:
        return self.anvil.accounts[0]

    def owner(self, index: int) -> DevAccount:
        """The L1 account that owns sequencer `index + 1` (spares follow the validators)."""
        return self.anvil.accounts[1 + index]

    @property
    def deployment(self) -> LockingDeployment:
        if self.dep is None:
            raise RuntimeError("L1Localnet.init() has not run")
        return self.dep

    def sidecar_address(self, index: int) -> str:
        return f"127.0.0.1:{self.sidecar_ports[index]}"

    # --- setup -------------------------------------------------------------------------

    def init(self) -> None:
        self.anvil.start()
        s = self.settings
        # Setup transactions mine at once; interval mining resumes when genesis is read.
        self.anvil.set_automine(True)
        self.dep = deploy_locking(self.anvil.w3, self.admin.private_key,
                                  min_lock_wei=s.min_lock_wei, max_lock_wei=s.max_lock_wei,
                                  withdrawal_delay_s=s.withdrawal_delay_s)
        for i in range(len(self.anvil.accounts) - 2):
            owner = self.owner(i)
            set_whitelisted(self.dep, self.admin.private_key, owner.address, True)
            mint(self.dep, self.admin.private_key, owner.address, s.max_lock_wei)
        self.net.init_homes(extra_toml=self.sidecar_toml)
        for node in self.nodes:
            signer, _ = read_signer_key(node.home)
            lock(self.dep, self.owner(node.index).private_key, _checksum(signer),
                 read_validator_pubkey(node.home), s.genesis_lock_wei)
        self.write_relayer_config()
        self.genesis_block = int(self.anvil.w3.eth.block_number)
        # Lock params, L1 chain id and contract come from L1 (as `genesis from-l1` reads them).
        params = {"evidence_max_age_s": s.evidence_max_age_s,
                  "max_evidence_age_blocks": s.max_evidence_age_blocks,
                  "settlement_interval_blocks": s.settlement_interval_blocks,
                  **(self.params or {})}
        self.net.write_genesis(build_app_state_from_l1(self.dep, self.genesis_block, params))
        if s.l1_block_time_s is not None:
            self.anvil.rpc("evm_setIntervalMining", [s.l1_block_time_s])

    def resume(self, locking_address: str, deploy_block: int) -> None:
        """Restarts anvil from its saved state and binds to the deployed contract."""
        self.anvil.start()
        self.dep = attach_locking(self.anvil.w3, locking_address, deploy_block)

    def sidecar_toml(self, node: LocalNode) -> str:
        s = self.settings
        return "\n[sidecar]\n" + "\n".join([
            f'l1_rpc_url = "{self.anvil.url}"',
            f'contract_address = "{self.deployment.locking_address}"',
            f"start_block = {self.deployment.deploy_block}",
            f"confirmations = {s.confirmations}",
            f"poll_interval_s = {s.poll_interval_s}",
            f'listen_address = "{self.sidecar_address(node.index)}"',
            f'metrics_address = "{free_metrics_address()}"',
        ]) + "\n"

    def write_app_sidecar_addresses(self) -> None:
        for node in self.nodes:
            path = node.home / "config" / "seqset.toml"
            text = path.read_text().replace(
                'sidecar_address = ""', f'sidecar_address = "{self.sidecar_address(node.index)}"')
            path.write_text(text)

    def route_app_to_sidecar(self, index: int, address: str) -> None:
        """Points node `index`'s app at `address` (a test's proxy or liar) instead of its
        own sidecar; call after init() and before start()."""
        path = self.nodes[index].home / CONFIG_RELATIVE_PATH
        text, count = re.subn(r'(?m)^sidecar_address = ".*"$',
                              f'sidecar_address = "{address}"', path.read_text())
        if count != 1:
            raise RuntimeError(f"{path} has no single sidecar_address line")
        path.write_text(text)

    def add_full_node(self) -> LocalNode:
        """One more home with the same genesis and peers, plus its sidecar's config.

        It runs as a full node until its sequencer locks on L1; it is stopped
        with the rest of the network.
        """
        index = len(self.nodes)
        p2p, rpc, abci, sidecar = free_ports(4)
        node = self.net.add_home(NodePorts(p2p, rpc, abci),
                                 app_overrides={"sidecar_address": f"127.0.0.1:{sidecar}"})
        self.sidecar_ports.append(sidecar)
        self.sidecars.append(None)
        path = node.home / CONFIG_RELATIVE_PATH
        path.write_text(path.read_text() + self.sidecar_toml(node))
        assert node.index == index
        return node

    @property
    def relayer_account(self) -> DevAccount:
        return self.anvil.accounts[-1]

    @property
    def relayer_log(self) -> Path:
        return self.net.base.parent / "relayer.log"

    def write_relayer_config(self) -> None:
        """[relayer] in node 0's seqset.toml, and its gas payer's key beside it."""
        home = self.nodes[0].home
        key_file = home / "config" / "relayer_key.json"
        key_file.write_text(json.dumps({"address": self.relayer_account.address,
                                        "private_key": self.relayer_account.private_key}))
        key_file.chmod(0o600)
        path = home / CONFIG_RELATIVE_PATH
        path.write_text(path.read_text() + "\n[relayer]\n" + "\n".join([
            f'node_rpc_url = "{self.nodes[0].rpc_url}"',
            f'l1_rpc_url = "{self.anvil.url}"',
            f'contract_address = "{self.deployment.locking_address}"',
            'sender_key_file = "config/relayer_key.json"',
            f"poll_interval_s = {self.settings.relayer_poll_interval_s}",
            "max_backoff_s = 5.0",
            f'metrics_address = "{free_metrics_address()}"',
        ]) + "\n")

    def sidecar_metrics_url(self, index: int) -> str:
        return read_metrics_url(self.nodes[index].home, "sidecar")

    @property
    def relayer_metrics_url(self) -> str:
        return read_metrics_url(self.nodes[0].home, "relayer")

    # --- processes --------------------------------------------------------------------

    def start_relayer(self) -> None:
        if self.relayer is not None and self.relayer.poll() is None:
            return
        out = open(self.relayer_log, "ab")  # noqa: SIM115 (the child owns it)
        self.relayer = subprocess.Popen(
            [*SEQSET_COMMAND, "relayer", "--home", str(self.nodes[0].home)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def stop_relayer(self) -> None:
        stop_process(self.relayer)
        self.relayer = None

    def start_sidecar(self, index: int) -> None:
        node = self.nodes[index]
        self.sidecars[index] = node._spawn(
            "sidecar", [*SEQSET_COMMAND, "sidecar", "--home", str(node.home)])

    def stop_sidecar(self, index: int) -> None:
        stop_process(self.sidecars[index])
        self.sidecars[index] = None

    def start(self) -> None:
        self.write_app_sidecar_addresses()
        for i in range(len(self.nodes)):
            self.start_sidecar(i)
        self.net.start()
        if self.settings.run_relayer:
            self.start_relayer()

    @contextmanager
    def running(self, height: int = 3) -> Iterator["L1Localnet"]:
        """Initialised, started and past `height`; stopped by PID on the way out."""
        try:
            self.init()
            self.start()
            self.net.wait_for_height(height)
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        self.stop_relayer()
        self.net.stop()
        for i in range(len(self.nodes)):
            self.stop_sidecar(i)
        self.anvil.stop()

    # --- reading the chain --------------------------------------------------------------

    def query(self, path: str, node: int = 0) -> Any:
        """A chain query's answer: the query.proto response message for `path`."""
        return query_node(self.nodes[node], path)

    def last_applied_nonce(self, node: int = 0) -> int:
        return int(self.query("/l1/last_nonce", node).nonce)

    def wait_for_applied_nonce(self, nonce: int, what: str, timeout_s: float = 60) -> None:
        """Until every running node applied L1 event `nonce` (skips stopped nodes)."""
        for node in self.nodes:
            if node.app_proc is None or node.app_proc.poll() is not None:
                continue
            wait_until(f"node {node.index} to apply L1 nonce {nonce} ({what})",
                       partial(lambda i: self.last_applied_nonce(i) >= nonce, node.index),
                       timeout_s)

    def token_balance(self, address: str) -> int:
        """The staking token's balance of `address` on L1, in wei."""
        return int(self.deployment.token.functions.balanceOf(address).call())

    # --- settlement -----------------------------------------------------------------------

    def pending_batch(self, node: int = 0) -> PendingBatch | None:
        """The chain's in-flight settlement batch (/settlement/pending), None if none."""
        try:
            return parse_pending(self.query(PENDING_PATH, node))
        except QueryFailedError:
            return None

    def l1_last_batch_nonce(self) -> int:
        return get_last_batch_nonce(self.deployment)

    def chain_batch_settled(self, nonce: int, node: int = 0) -> bool:
        try:
            batch = self.query(f"/settlement/batch/{nonce}", node).batch
        except QueryFailedError:
            return False
        return bool(batch.status == state_pb.SETTLEMENT_STATUS_SETTLED)

    def wait_for_batch_settled(self, nonce: int, timeout_s: float = 90) -> None:
        """Until L1's lastBatchNonce reached `nonce` and every node marked it settled."""
        wait_until(f"L1 to settle batch {nonce} (relayer log: {self.relayer_log})",
                   lambda: self.l1_last_batch_nonce() >= nonce, timeout_s)
        for index in range(len(self.nodes)):
            wait_until(f"node {index} to mark batch {nonce} settled",
                       partial(self.chain_batch_settled, nonce, index), timeout_s)

    def wait_for_pending_batch(self, timeout_s: float = 60, complete: bool = False,
                               node: int = 0) -> PendingBatch:
        """Until the chain has a batch in flight (and, with `complete`, > 2/3 signed it)."""
        def found() -> PendingBatch | None:
            pending = self.pending_batch(node)
            return pending if pending is not None and (pending.complete or not complete) \
                else None

        batch: PendingBatch = wait_until(
            f"node {node} to have a {'complete ' if complete else ''}batch in flight",
            found, timeout_s)
        return batch


class QueryFailedError(RuntimeError):
    """The chain answered a query with a non-zero code (e.g. nothing found)."""


def query_node(node: LocalNode, path: str) -> Any:
    response = node.abci_query(path)
    if response.get("code", 0) != 0:
        raise QueryFailedError(
            f"query {path} on node {node.index} failed: {response.get('log')}")
    return decode_query_value(path, base64.b64decode(response.get("value") or ""))


def _checksum(address: str) -> str:
    from web3 import Web3

    return str(Web3.to_checksum_address(address))
