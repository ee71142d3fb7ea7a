"""Fixtures for tests against a real anvil and a deployed Locking contract.

One anvil and one deployment per test module; each test runs between an
`evm_snapshot` and an `evm_revert`, so tests stay independent and fast.
Import the fixtures into a test module with
`from tests.integration.l1_fixtures import anvil_fixture, l1_fixture, locking_env_fixture`
(with `# noqa: F401`); tests then ask for `anvil_node`, `locking_env` or `l1` by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest
from web3 import Web3
from web3.exceptions import ContractCustomError

from abci_app.devnet import l1_deploy
from abci_app.devnet.anvil import Anvil, DevAccount
from abci_app.l1 import contract as c
from abci_app.settlement import compute_signer_address

ETHER = 10**18
MIN_LOCK_WEI = 10 * ETHER
MAX_LOCK_WEI = 100 * ETHER
WITHDRAWAL_DELAY_S = 7 * 24 * 3600
OWNER_BALANCE_WEI = 1_000 * ETHER


@dataclass(frozen=True)
class L1Env:
    """A deployed Locking contract; accounts 1-3 are whitelisted owners, 4 is not."""

    node: Anvil
    dep: c.LockingDeployment
    admin: DevAccount  # deployer, token owner, DEFAULT_ADMIN_ROLE
    owners: list[DevAccount]  # whitelisted, each holding OWNER_BALANCE_WEI
    outsider: DevAccount  # funded with tokens but not whitelisted
    distributor: DevAccount  # a funded account with no role (rewards are paid only by settlement)

    @property
    def abi(self) -> list[dict[str, Any]]:
        # Locking's errors plus the token's (SafeERC20 bubbles up ERC20 errors)
        return cast(list[dict[str, Any]], [*self.dep.locking.abi, *self.dep.token.abi])


def make_signer_key(index: int) -> bytes:
    """The secp256k1 key of signer `index`, so tests can sign settlement batches."""
    return (0x5160000 + index).to_bytes(32, "big")


def make_signer(index: int) -> str:
    """A distinct, non-zero signer address that is not a dev account."""
    return Web3.to_checksum_address(compute_signer_address(make_signer_key(index)))


def make_key(index: int) -> bytes:
    """A distinct, non-zero 32-byte consensus key."""
    return bytes([index % 256]) * 31 + b"\x01"


@contextmanager
def expect_revert(env: L1Env, error_name: str) -> Iterator[None]:
    """Asserts the block reverts with the named custom error (matched by selector)."""
    with pytest.raises(ContractCustomError) as info:
        yield
    data = info.value.data if isinstance(info.value.data, str) else str(info.value.message)
    got = c.get_revert_name(env.abi, data)
    assert got == error_name, f"expected revert {error_name}, got {got} ({data[:10]})"


def lock_new(env: L1Env, owner_index: int, amount_wei: int = MIN_LOCK_WEI * 2) -> int:
    """Locks for owners[owner_index] with signer/key derived from the index; returns the id."""
    owner = env.owners[owner_index]
    c.lock(env.dep, owner.private_key, make_signer(owner_index), make_key(owner_index), amount_wei)
    return int(env.dep.locking.functions.sequencerOfOwner(owner.address).call())


@pytest.fixture(scope="module", name="anvil_node")
def anvil_fixture() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="module", name="locking_env")
def locking_env_fixture(anvil_node: Anvil) -> L1Env:
    accounts = anvil_node.accounts
    admin, owners, outsider, distributor = accounts[0], accounts[1:4], accounts[4], accounts[5]
    dep = l1_deploy.deploy_locking(
        anvil_node.w3,
        admin.private_key,
        min_lock_wei=MIN_LOCK_WEI,
        max_lock_wei=MAX_LOCK_WEI,
        withdrawal_delay_s=WITHDRAWAL_DELAY_S,
    )
    for account in [*owners, outsider, distributor]:
        l1_deploy.mint(dep, admin.private_key, account.address, OWNER_BALANCE_WEI)
    for owner in owners:
        c.set_whitelisted(dep, admin.private_key, owner.address, True)
    return L1Env(anvil_node, dep, admin, list(owners), outsider, distributor)


@pytest.fixture(name="l1")
def l1_fixture(locking_env: L1Env) -> Iterator[L1Env]:
    """The module's deployment, rolled back to its fresh state after the test."""
    snapshot = locking_env.node.snapshot()
    yield locking_env
    locking_env.node.revert(snapshot)
