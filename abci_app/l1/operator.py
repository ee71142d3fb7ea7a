"""An owner's calls to the Locking contract, for `seqset l1 ...`: plain functions, no click.

Every call is checked before it costs gas: the inputs are parsed, the stake
token balance covers an amount to lock, and `estimate_gas` runs the call, so a
revert surfaces as the contract's custom error with its arguments
(abci_app/l1/reverts.py). Then it is signed, sent and its receipt awaited; the
mirrored events it emitted carry the nonces the chain will apply, and
`wait_for_chain_nonce` polls the chain's /l1/last_nonce until it has.
Every expected failure is an OperatorError whose message is one line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception, Web3RPCError

from abci_app.chain.query import ROUTES_BY_PATH
from abci_app.client.rpc import ChainReadError, NodeRpc
from abci_app.l1.contract import (
    RECEIPT_TIMEOUT_S,
    LockingDeployment,
    LockingLog,
    attach_locking,
    get_locking_logs,
)
from abci_app.l1.reverts import decode_revert, get_revert_data

L1_KEY_ENV = "SEQSET_L1_KEY"
L1_RPC_TIMEOUT_S = 20
WEI_PER_ETH = 10**18
ETH_SUFFIX = "eth"
PRIVATE_KEY_BYTES = 32
CONSENSUS_KEY_BYTES = 32
GAS_MARGIN_DIVISOR = 5  # send with estimate + 20%: the estimate is exact only for this state
ALLOWANCE_REVERT = "ERC20InsufficientAllowance"
LAST_NONCE_PATH = "/" + ROUTES_BY_PATH["l1/last_nonce"].path


class OperatorError(Exception):
    """An expected failure of an L1 operator command; the message is one line."""


@dataclass(frozen=True)
class SentTx:
    """A mined, successful transaction and the mirrored Locking events it emitted."""

    action: str
    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[LockingLog, ...]

    @property
    def last_nonce(self) -> int:
        """The highest event nonce emitted (0: none, e.g. an ERC-20 approve)."""
        return max((e.nonce for e in self.events), default=0)


# ---------------------------------------------------------------- parsing inputs


def parse_amount(text: str) -> int:
    """Wei from "1500000000000000000" or "1.5eth" (exact: more than 18 decimals is refused)."""
    raw = text.strip().lower().replace("_", "")
    scale = WEI_PER_ETH if raw.endswith(ETH_SUFFIX) else 1
    number = raw.removesuffix(ETH_SUFFIX).strip() if scale != 1 else raw
    whole, _, fraction = number.partition(".")
    digits = 18 if scale != 1 else 0
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > digits:
        raise OperatorError(f"not an amount: {text!r} (give wei, e.g. 1000000000000000000, "
                            f"or eth, e.g. 1.5eth)")
    return int(whole) * scale + (int(fraction.ljust(digits, "0")) if fraction else 0)


def parse_address(text: str, what: str) -> str:
    """The checksummed address in `text`, or OperatorError naming the option."""
    if not Web3.is_address(text):
        raise OperatorError(f"{what}: not a 20-byte hex address: {text!r}")
    return str(Web3.to_checksum_address(text))


def parse_consensus_key(text: str) -> bytes:
    """A 32-byte ed25519 public key from hex (with or without 0x)."""
    try:
        key = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        key = b""
    if len(key) != CONSENSUS_KEY_BYTES:
        raise OperatorError(f"--consensus-key: not {CONSENSUS_KEY_BYTES} bytes of hex: {text!r}")
    return key


def parse_private_key(text: str, source: str) -> str:
    """The 0x-hex key in `text`: JSON {"private_key": hex} or the bare hex."""
    try:
        stripped = text.strip()
        raw = json.loads(stripped)["private_key"] if stripped.startswith("{") else stripped
        key = bytes.fromhex(str(raw).removeprefix("0x"))
    except (ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"{source}: not a private key ({type(exc).__name__})") from None
    if len(key) != PRIVATE_KEY_BYTES:
        raise OperatorError(f"{source}: the key has {len(key)} bytes, expected 32")
    return "0x" + key.hex()


def read_owner_key(key_file: Path | None, environ: Mapping[str, str]) -> str:
    """The owner's key from `key_file`, else from $SEQSET_L1_KEY (never the command line)."""
    if key_file is not None:
        try:
            return parse_private_key(key_file.read_text(), str(key_file))
        except OSError as exc:
            raise OperatorError(f"cannot read the key file {key_file}: {exc.strerror}") from None
    if environ.get(L1_KEY_ENV):
        return parse_private_key(environ[L1_KEY_ENV], f"${L1_KEY_ENV}")
    raise OperatorError(f"no owner key: give --key-file PATH or set {L1_KEY_ENV}")


def get_home_signer(home: Path) -> str:
    """The signer address of `home`'s config/signer_key.json (which `seqset init` writes)."""
    from abci_app.node.home import HomeError, read_signer_key

    try:
        return read_signer_key(home)[0]
    except (HomeError, OSError, ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"cannot read the signer key in {home}: {exc}") from None


def read_consensus_key(home: Path) -> bytes:
    """The ed25519 public key in `home`'s config/priv_validator_key.json."""
    from abci_app.node.home import read_validator_pubkey

    try:
        key = read_validator_pubkey(home)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"cannot read the consensus key in {home}/config/"
                            f"priv_validator_key.json: {exc}") from None
    if len(key) != CONSENSUS_KEY_BYTES:
        raise OperatorError(f"{home}: the consensus key has {len(key)} bytes, expected 32")
    return key


# ---------------------------------------------------------------- L1


@contextmanager
def l1_errors(url: str, sender: str = "") -> Iterator[None]:
    """Turns a dead or failing L1 RPC into one line (naming `sender` when it lacks gas)."""
    try:
        yield
    except (OSError, Web3RPCError) as exc:
        message = get_rpc_error_message(exc)
        if "insufficient funds" in message.lower():
            raise OperatorError(f"insufficient ETH for gas{' in ' + sender if sender else ''}: "
                                f"{message}") from None
        raise OperatorError(f"L1 RPC {url} failed: {message}") from None


def get_rpc_error_message(exc: Exception) -> str:
    """The node's own words for a JSON-RPC error, else the exception's first line."""
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:200]
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def connect(l1_rpc_url: str, contract_address: str) -> LockingDeployment:
    """The Locking contract at `contract_address` on a live L1, or OperatorError."""
    address = parse_address(contract_address, "--contract")
    w3 = Web3(Web3.HTTPProvider(l1_rpc_url, request_kwargs={"timeout": L1_RPC_TIMEOUT_S}))
    if not w3.is_connected():
        raise OperatorError(f"cannot reach the L1 RPC at {l1_rpc_url}")
    with l1_errors(l1_rpc_url):
        if not w3.eth.get_code(Web3.to_checksum_address(address)):
            raise OperatorError(f"no contract at {address} on the L1 at {l1_rpc_url}")
        try:
            return attach_locking(w3, address)
        except (ContractLogicError, Web3Exception) as exc:
            raise OperatorError(f"{address} is not a Locking contract: {exc}") from None


def get_l1_url(dep: LockingDeployment) -> str:
    return str(getattr(dep.w3.provider, "endpoint_uri", "L1"))


def estimate_gas(dep: LockingDeployment, call: ContractFunction, sender: str,
                 action: str, allowed_revert: str | None = None) -> int:
    """The gas `call` needs; OperatorError naming the revert (0 for `allowed_revert`)."""
    try:
        return int(call.estimate_gas({"from": sender}))
    except ContractLogicError as exc:
        # Locking pulls the stake token last: the token's errors bubble up through it
        revert = decode_revert([*dep.locking.abi, *dep.token.abi], get_revert_data(exc))
        if allowed_revert is not None and revert.name == allowed_revert:
            return 0
        raise OperatorError(f"{action} reverted: {revert}") from None


def send_call(dep: LockingDeployment, key: str, call: ContractFunction, action: str) -> SentTx:
    """Estimates (reverts decoded), signs, sends and awaits `call`; its mirrored events."""
    w3, url = dep.w3, get_l1_url(dep)
    sender = Account.from_key(key).address
    with l1_errors(url, sender):
        gas = estimate_gas(dep, call, sender, action)
        tx = call.build_transaction({
            "from": sender, "gas": gas + gas // GAS_MARGIN_DIVISOR, "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(sender, "pending"),
        })
        tx_hash = w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        except TimeExhausted:
            raise OperatorError(f"{action}: no receipt for {tx_hash.to_0x_hex()} within "
                                f"{RECEIPT_TIMEOUT_S:.0f}s") from None
        if receipt["status"] != 1:
            raise OperatorError(f"{action}: transaction {tx_hash.to_0x_hex()} reverted when mined")
        block = int(receipt["blockNumber"])
        events = tuple(e for e in get_locking_logs(dep, block, block) if e.tx_hash == tx_hash)
    return SentTx(action, tx_hash.to_0x_hex(), block, int(receipt["gasUsed"]), events)


def check_token_balance(dep: LockingDeployment, owner: str, amount_wei: int, action: str) -> None:
    """OperatorError unless `owner` holds `amount_wei` of the stake token."""
    balance = int(dep.token.functions.balanceOf(owner).call())
    if balance < amount_wei:
        raise OperatorError(f"{action}: insufficient stake token: {owner} holds {balance} wei, "
                            f"needs {amount_wei} wei")


def approve_and_send(dep: LockingDeployment, key: str, amount_wei: int, call: ContractFunction,
                     action: str) -> list[SentTx]:
    """`call` pulls `amount_wei` of the token: approve first when the allowance is short.

    The call is estimated before the approve, so a revert of its own costs no gas:
    only the missing allowance (the token's error, raised by the last step) may remain.
    """
    owner = Account.from_key(key).address
    with l1_errors(get_l1_url(dep), owner):
        check_token_balance(dep, owner, amount_wei, action)
        allowance = int(dep.token.functions.allowance(owner, dep.locking.address).call())
        if allowance < amount_wei:
            estimate_gas(dep, call, owner, action, allowed_revert=ALLOWANCE_REVERT)
    sent = []
    if allowance < amount_wei:
        approve = dep.token.functions.approve(dep.locking.address, amount_wei)
        sent.append(send_call(dep, key, approve, "approve"))
    return [*sent, send_call(dep, key, call, action)]


def lock(dep: LockingDeployment, key: str, signer: str, consensus_key: bytes,
         amount_wei: int) -> list[SentTx]:
    call = dep.locking.functions.lock(signer, consensus_key, amount_wei)
    return approve_and_send(dep, key, amount_wei, call, "lock")


def increase_lock(dep: LockingDeployment, key: str, sequencer_id: int,
                  amount_wei: int) -> list[SentTx]:
    call = dep.locking.functions.increaseLock(sequencer_id, amount_wei)
    return approve_and_send(dep, key, amount_wei, call, "increase")


# The calls that move no token from the owner: command -> Locking function.
OWNER_CALLS: dict[str, str] = {
    "withdraw": "requestWithdrawal",
    "unlock": "initiateUnlock",
    "claim": "claim",
    "claim-rewards": "claimRewards",
    "change-signer": "changeSigner",
}


def send_owner_call(dep: LockingDeployment, key: str, action: str, *args: int | str) -> SentTx:
    """One of OWNER_CALLS, e.g. send_owner_call(dep, key, "withdraw", 3, amount_wei)."""
    call = getattr(dep.locking.functions, OWNER_CALLS[action])(*args)
    return send_call(dep, key, call, action)


# ---------------------------------------------------------------- the chain


def get_chain_nonce(rpc: NodeRpc) -> int:
    """The last L1 event nonce the chain applied, or OperatorError naming the node."""
    try:
        return int(rpc.query(LAST_NONCE_PATH).nonce)  # type: ignore[attr-defined]
    except ChainReadError as exc:
        raise OperatorError(str(exc).splitlines()[0]) from None


def wait_for_chain_nonce(
    rpc: NodeRpc, nonce: int, timeout_s: float, report: Callable[[int], None],
    poll_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Polls until the chain applied L1 event `nonce`; `report` hears each new chain nonce.

    Returns the chain's nonce; OperatorError on timeout or a dead node.
    """
    deadline, seen = clock() + timeout_s, -1
    while True:
        current = get_chain_nonce(rpc)
        if current != seen:
            report(current)
            seen = current
        if current >= nonce:
            return current
        if clock() >= deadline:
            raise OperatorError(f"timed out after {timeout_s:g}s waiting for the chain to apply "
                                f"L1 event nonce {nonce}: chain at nonce {current}")
        sleep(poll_s)
