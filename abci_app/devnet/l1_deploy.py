"""Deploying the Locking contract and its stake token on a development L1.

Only the local network and tests deploy; a real network attaches to an
already deployed contract (`abci_app.l1.contract.attach_locking`).
"""

from typing import Any, cast

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from abci_app.l1.contract import (
    LockingDeployment,
    load_artifact,
    send_signed,
    send_transaction,
)

# Where slashed stake goes unless a treasury is named: the customary burn address.
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"


def deploy_contract(w3: Web3, private_key: str, name: str, *args: Any) -> tuple[Contract, int]:
    """Deploys the compiled contract `name`; returns it and its deployment block."""
    abi, bytecode = load_artifact(name)
    account = Account.from_key(private_key)
    tx = (
        w3.eth.contract(abi=abi, bytecode=bytecode)
        .constructor(*args)
        .build_transaction(
            {
                "from": account.address,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": w3.eth.chain_id,
            }
        )
    )
    receipt = send_signed(w3, private_key, tx)
    address = receipt["contractAddress"]
    contract = cast(Contract, w3.eth.contract(address=address, abi=abi))
    return contract, int(receipt["blockNumber"])


def deploy_locking(
    w3: Web3,
    admin_key: str,
    *,
    min_lock_wei: int,
    max_lock_wei: int,
    withdrawal_delay_s: int,
    token_address: str | None = None,
    slash_sink: str = BURN_ADDRESS,
    token_name: str = "Seqset Stake",
    token_symbol: str = "SSTK",
) -> LockingDeployment:
    """Deploys Locking (and a StakeToken owned by the admin unless `token_address` is given).

    Slashed stake goes to `slash_sink`, fixed for the contract's life.
    """
    admin = Account.from_key(admin_key).address
    if token_address is None:
        token, _ = deploy_contract(w3, admin_key, "StakeToken", token_name, token_symbol, admin)
    else:
        token_abi, _ = load_artifact("StakeToken")
        token = w3.eth.contract(address=Web3.to_checksum_address(token_address), abi=token_abi)
    locking, block = deploy_contract(
        w3, admin_key, "Locking", token.address, admin, Web3.to_checksum_address(slash_sink),
        min_lock_wei, max_lock_wei, withdrawal_delay_s,
    )  # fmt: skip
    return LockingDeployment(w3=w3, token=token, locking=locking, deploy_block=block)


def mint(dep: LockingDeployment, token_owner_key: str, to: str, amount_wei: int) -> TxReceipt:
    """Mints StakeToken to `to` (only the token's owner may)."""
    return send_transaction(dep.w3, token_owner_key, dep.token.functions.mint(to, amount_wei))
