"""Bindings for the L1 Locking contract: artifacts, deployment, typed calls, event ABI.

The event ABI below comes from abci_app/l1events_schema.py (checked against the
compiled ABI by a test) so the sidecar can decode logs without the build folder.
Every wrapper that changes state sends one signed transaction per call (the
`approve=True` helpers send an ERC-20 approve first) and returns the receipt;
a call that would revert raises web3's `ContractCustomError` before sending.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import BlockIdentifier, TxReceipt

from abci_app.l1events_schema import EVENT_KINDS, INDEXED_FIELDS
from abci_app.settlement import Batch, BatchSignature, LockParams, get_batch_abi_tuple

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "contracts" / "build"
RECEIPT_TIMEOUT_S = 60.0

# The seven events the chain mirrors, from the one table in abci_app/l1events_schema.py:
# name -> (field, ABI type, indexed), in the contract's exact order.
_EVENT_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    kind.name: tuple((name, abi_type, True) for name, abi_type in INDEXED_FIELDS)
    + tuple((field.abi_name, field.abi_type, False) for field in kind.data)
    for kind in EVENT_KINDS
}

EVENT_NAMES: tuple[str, ...] = tuple(_EVENT_FIELDS)
EVENT_SIGNATURES: dict[str, str] = {
    name: f"{name}({','.join(t for _, t, _ in fields)})" for name, fields in _EVENT_FIELDS.items()
}
# topic0 (keccak of the signature, 0x-hex) -> event name
EVENT_TOPICS: dict[str, str] = {
    "0x" + keccak(text=sig).hex(): name for name, sig in EVENT_SIGNATURES.items()
}
LOCKING_EVENT_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [
            {"name": field, "type": typ, "indexed": indexed, "internalType": typ}
            for field, typ, indexed in fields
        ],
    }
    for name, fields in _EVENT_FIELDS.items()
]


class SequencerStatus(IntEnum):
    """Mirrors `Locking.Status`."""

    NONE = 0
    ACTIVE = 1
    UNLOCKING = 2
    EXITED = 3


@dataclass(frozen=True)
class SequencerRecord:
    sequencer_id: int
    owner: str
    signer: str
    consensus_key: bytes  # 32 bytes
    amount_wei: int
    status: SequencerStatus


@dataclass(frozen=True)
class PendingWithdrawal:
    amount_wei: int
    releasable_at_s: int  # request time + delay (L1 clock); display only: settlement releases


@dataclass(frozen=True)
class LockingDeployment:
    w3: Web3
    token: Contract
    locking: Contract
    deploy_block: int  # the block of the Locking deployment: where log scans may start

    @property
    def token_address(self) -> str:
        return str(self.token.address)

    @property
    def locking_address(self) -> str:
        return str(self.locking.address)


@dataclass(frozen=True)
class LockingLog:
    """One decoded Locking event and where it sits on L1."""

    name: str
    nonce: int
    sequencer_id: int
    args: dict[str, Any]
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


class L1TxFailedError(RuntimeError):
    """A transaction was mined but reverted (status 0)."""


# ---------------------------------------------------------------- artifacts and errors


def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> tuple[list[dict[str, Any]], str]:
    """Returns (abi, 0x-prefixed creation bytecode) of a compiled contract."""
    abi_path, bin_path = build_dir / f"{name}.abi", build_dir / f"{name}.bin"
    if not abi_path.exists() or not bin_path.exists():
        raise FileNotFoundError(f"{name} not built in {build_dir}: run ./scripts/compile-contracts")
    abi: list[dict[str, Any]] = json.loads(abi_path.read_text())
    return abi, "0x" + bin_path.read_text().strip()


def compute_error_selector(signature: str) -> str:
    """The 4-byte selector of a custom error, e.g. 'ZeroSigner()' -> '0x…' (10 chars)."""
    return "0x" + keccak(text=signature).hex()[:8]


def get_error_signatures(abi: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Maps each custom error's selector to its signature, e.g. 'NotOwner(uint64,address)'."""
    return {
        compute_error_selector(sig): sig
        for sig in (
            f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
            for e in abi
            if e["type"] == "error"
        )
    }


def get_revert_name(abi: Sequence[dict[str, Any]], revert_data: str) -> str | None:
    """The custom error name behind revert data ('0x' + selector + args), if known."""
    signature = get_error_signatures(abi).get(revert_data[:10].lower())
    return signature.split("(")[0] if signature else None


# ---------------------------------------------------------------- transactions


def send_transaction(w3: Web3, private_key: str, call: ContractFunction) -> TxReceipt:
    """Signs and sends `call` from the key's account and waits for a successful receipt."""
    account = Account.from_key(private_key)
    tx = call.build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    return send_signed(w3, private_key, tx)


def send_signed(w3: Web3, private_key: str, tx: Any) -> TxReceipt:
    signed = Account.sign_transaction(tx, private_key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise L1TxFailedError(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


def attach_locking(w3: Web3, locking_address: str, deploy_block: int = 0) -> LockingDeployment:
    """Binds to an already deployed Locking contract and its token."""
    abi, _ = load_artifact("Locking")
    token_abi, _ = load_artifact("StakeToken")
    locking = w3.eth.contract(address=Web3.to_checksum_address(locking_address), abi=abi)
    token = w3.eth.contract(address=locking.functions.token().call(), abi=token_abi)
    return LockingDeployment(w3=w3, token=token, locking=locking, deploy_block=deploy_block)


# ---------------------------------------------------------------- token and admin calls


def approve_locking(dep: LockingDeployment, key: str, amount_wei: int) -> TxReceipt:
    """Lets the Locking contract pull `amount_wei` of the token from the key's account."""
    call = dep.token.functions.approve(dep.locking.address, amount_wei)
    return send_transaction(dep.w3, key, call)


def set_whitelisted(dep: LockingDeployment, admin_key: str, owner: str, allowed: bool) -> TxReceipt:
    call = dep.locking.functions.setWhitelisted(owner, allowed)
    return send_transaction(dep.w3, admin_key, call)


def pause(dep: LockingDeployment, admin_key: str) -> TxReceipt:
    return send_transaction(dep.w3, admin_key, dep.locking.functions.pause())


def unpause(dep: LockingDeployment, admin_key: str) -> TxReceipt:
    return send_transaction(dep.w3, admin_key, dep.locking.functions.unpause())


# ---------------------------------------------------------------- owner and reward calls


def lock(
    dep: LockingDeployment,
    owner_key: str,
    signer: str,
    consensus_key: bytes,
    amount_wei: int,
    *,
    approve: bool = True,
) -> TxReceipt:
    """Makes the key's account a sequencer; with `approve`, approves the amount first."""
    if approve:
        approve_locking(dep, owner_key, amount_wei)
    call = dep.locking.functions.lock(signer, consensus_key, amount_wei)
    return send_transaction(dep.w3, owner_key, call)


def increase_lock(
    dep: LockingDeployment, owner_key: str, sequencer_id: int, amount_wei: int,
    *, approve: bool = True,
) -> TxReceipt:  # fmt: skip
    if approve:
        approve_locking(dep, owner_key, amount_wei)
    call = dep.locking.functions.increaseLock(sequencer_id, amount_wei)
    return send_transaction(dep.w3, owner_key, call)


def change_signer(
    dep: LockingDeployment, owner_key: str, sequencer_id: int, new_signer: str
) -> TxReceipt:
    call = dep.locking.functions.changeSigner(sequencer_id, new_signer)
    return send_transaction(dep.w3, owner_key, call)


def request_withdrawal(
    dep: LockingDeployment, owner_key: str, sequencer_id: int, amount_wei: int
) -> TxReceipt:
    call = dep.locking.functions.requestWithdrawal(sequencer_id, amount_wei)
    return send_transaction(dep.w3, owner_key, call)


def initiate_unlock(dep: LockingDeployment, owner_key: str, sequencer_id: int) -> TxReceipt:
    call = dep.locking.functions.initiateUnlock(sequencer_id)
    return send_transaction(dep.w3, owner_key, call)


def claim(dep: LockingDeployment, owner_key: str, sequencer_id: int) -> TxReceipt:
    return send_transaction(dep.w3, owner_key, dep.locking.functions.claim(sequencer_id))


def fund_rewards(
    dep: LockingDeployment, funder_key: str, amount_wei: int, *, approve: bool = True
) -> TxReceipt:
    if approve:
        approve_locking(dep, funder_key, amount_wei)
    return send_transaction(dep.w3, funder_key, dep.locking.functions.fundRewards(amount_wei))


def claim_rewards(dep: LockingDeployment, owner_key: str, sequencer_id: int) -> TxReceipt:
    """Pays the owner the rewards settlement credited, as far as the pool reaches."""
    return send_transaction(dep.w3, owner_key, dep.locking.functions.claimRewards(sequencer_id))


# ---------------------------------------------------------------- settlement


def settle(
    dep: LockingDeployment, sender_key: str, batch: Batch, signatures: Sequence[BatchSignature]
) -> TxReceipt:
    """Submits a batch with its signatures, which must already be sorted by signer."""
    return send_transaction(dep.w3, sender_key, get_settle_call(dep, batch, signatures))


def get_settle_call(
    dep: LockingDeployment, batch: Batch, signatures: Sequence[BatchSignature]
) -> ContractFunction:
    """The unsent `settle` call, for `.call()` (a dry run) or `.estimate_gas()`."""
    return dep.locking.functions.settle(
        get_batch_abi_tuple(batch), [sig.to_abi() for sig in signatures]
    )


def get_last_batch_nonce(dep: LockingDeployment, block: BlockIdentifier = "latest") -> int:
    return int(dep.locking.functions.lastBatchNonce().call(block_identifier=block))


def get_claimable(dep: LockingDeployment, sequencer_id: int) -> int:
    """Withdrawals that settlement released and the owner has not yet claimed."""
    return int(dep.locking.functions.claimableOf(sequencer_id).call())


def get_rewards_owed(dep: LockingDeployment, sequencer_id: int) -> int:
    return int(dep.locking.functions.rewardsOwed(sequencer_id).call())


def get_contract_batch_digest(dep: LockingDeployment, batch: Batch) -> bytes:
    """The digest as the contract computes it (compare `settlement.compute_batch_digest`)."""
    return bytes(dep.locking.functions.batchDigest(get_batch_abi_tuple(batch)).call())


def get_lock_params(dep: LockingDeployment, block: BlockIdentifier = "latest") -> LockParams:
    """The parameters both sides rely on, as L1 holds them (for `genesis from-l1`)."""
    fns = dep.locking.functions
    return LockParams(
        min_lock_wei=int(fns.minLock().call(block_identifier=block)),
        max_lock_wei=int(fns.maxLock().call(block_identifier=block)),
        withdrawal_delay_s=int(fns.withdrawalDelay().call(block_identifier=block)),
    )


# ---------------------------------------------------------------- views and logs


def get_sequencer(
    dep: LockingDeployment, sequencer_id: int, block: BlockIdentifier = "latest"
) -> SequencerRecord:
    owner, signer, key, amount, status = dep.locking.functions.sequencers(sequencer_id).call(
        block_identifier=block
    )
    return SequencerRecord(sequencer_id, owner, signer, bytes(key), amount, SequencerStatus(status))


def get_all_sequencers(
    dep: LockingDeployment, block: BlockIdentifier = "latest"
) -> list[SequencerRecord]:
    """Every sequencer as of `block`; read `get_event_nonce` at the same block for genesis."""
    ids, owners, signers, keys, amounts, statuses = dep.locking.functions.listSequencers().call(
        block_identifier=block
    )
    return [
        SequencerRecord(i, o, s, bytes(k), a, SequencerStatus(st))
        for i, o, s, k, a, st in zip(ids, owners, signers, keys, amounts, statuses, strict=True)
    ]


def get_event_nonce(dep: LockingDeployment, block: BlockIdentifier = "latest") -> int:
    """The last event nonce emitted as of `block` (0 before the first event)."""
    return int(dep.locking.functions.eventNonce().call(block_identifier=block))


def get_pending_withdrawals(
    dep: LockingDeployment, sequencer_id: int, block: BlockIdentifier = "latest"
) -> list[PendingWithdrawal]:
    amounts, times = dep.locking.functions.pendingWithdrawals(sequencer_id).call(
        block_identifier=block
    )
    return [PendingWithdrawal(a, t) for a, t in zip(amounts, times, strict=True)]


def get_locking_logs(dep: LockingDeployment, from_block: int, to_block: int) -> list[LockingLog]:
    """The mirrored events emitted in [from_block, to_block], in L1 order."""
    raw = dep.w3.eth.get_logs(
        {
            "address": dep.locking.address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [list(EVENT_TOPICS)],
        }
    )
    decoded = []
    for entry in raw:
        name = EVENT_TOPICS["0x" + bytes(entry["topics"][0]).hex()]
        event = getattr(dep.locking.events, name)().process_log(entry)
        args = dict(event["args"])
        decoded.append(
            LockingLog(
                name=name,
                nonce=int(args["eventNonce"]),
                sequencer_id=int(args["sequencerId"]),
                args=args,
                block_number=int(entry["blockNumber"]),
                block_hash=bytes(entry["blockHash"]),
                tx_hash=bytes(entry["transactionHash"]),
                log_index=int(entry["logIndex"]),
            )
        )
    return sorted(decoded, key=lambda log: (log.block_number, log.log_index))
