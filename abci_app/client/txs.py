"""Chain transactions from outside: a key from a file or the environment, a signed
SignedTx (chain/txsign.py), broadcast_tx_sync, then waiting for its block.

A key is never taken from the command line (it would sit in shell history and
in `ps`): `--key-file` (signer_key.json's form, {"private_key": hex}) or the
SEQSET_SIGNER_KEY environment variable (hex).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.txsign import compute_signer_address, sign_tx
from abci_app.client.queries import get_path
from abci_app.client.rpc import NodeRpc
from abci_app.errors import CODESPACE, ERROR_CODES

SIGNER_KEY_ENV = "SEQSET_SIGNER_KEY"
PRIVATE_KEY_BYTES = 32
POLL_INTERVAL_S = 0.25


class SignerKeyError(ValueError):
    """No usable signing key (the message says where it looked)."""


class InclusionTimeoutError(TimeoutError):
    """The tx passed CheckTx but no block included it in time."""


@dataclass(frozen=True)
class TxResult:
    tx_hash: str  # hex, upper case as CometBFT prints it
    stage: str  # "check" (refused by CheckTx) or "block" (its FinalizeBlock result)
    code: int
    log: str
    height: int = 0
    codespace: str = CODESPACE

    @property
    def name(self) -> str:
        """The code's name in abci_app/errors.py (OK for 0), or where it came from."""
        if self.code == 0:
            return "OK"
        if self.codespace == CODESPACE and self.code in ERROR_CODES:
            return ERROR_CODES[self.code][0]
        return f"{self.codespace or 'cometbft'} code"


def parse_private_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise SignerKeyError(f"{where}: the private key is not hex") from None
    if len(key) != PRIVATE_KEY_BYTES:
        raise SignerKeyError(f"{where}: the private key has {len(key)} bytes, expected "
                             f"{PRIVATE_KEY_BYTES}")
    return key


def read_signer(key_file: Path | None) -> bytes:
    """The private key from `key_file` or SEQSET_SIGNER_KEY (the file wins)."""
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as exc:
            raise SignerKeyError(f"cannot read {key_file}: {exc.strerror}") from None
        try:
            doc = json.loads(text)
            text = str(doc["private_key"]) if isinstance(doc, dict) else text
        except (ValueError, KeyError):
            pass  # a bare hex key file
        return parse_private_key(text, str(key_file))
    env = os.environ.get(SIGNER_KEY_ENV)
    if not env:
        raise SignerKeyError(f"no signing key: pass --key-file or set {SIGNER_KEY_ENV}")
    return parse_private_key(env, SIGNER_KEY_ENV)


def build_unjail(rpc: NodeRpc, sequencer_id: int, key: bytes) -> bytes:
    """A signed Unjail for this chain with the signer's next nonce."""
    chain_id = str((rpc.status().get("node_info") or {}).get("network", ""))
    signer = "0x" + compute_signer_address(key).hex()
    account = rpc.query(get_path("account", signer)).account  # type: ignore[attr-defined]
    body = tx_pb.TxBody(chain_id=chain_id, nonce=int(account.nonce),
                        unjail=tx_pb.Unjail(sequencer_id=sequencer_id))
    return sign_tx(body, key)


def send_tx(rpc: NodeRpc, raw: bytes, timeout_s: float) -> TxResult:
    """broadcast_tx_sync, then (if CheckTx passed) wait for the block that includes it."""
    checked = rpc.broadcast_tx_sync(raw)
    tx_hash = str(checked.get("hash", ""))
    code = int(checked.get("code", 0))
    if code:
        return TxResult(tx_hash, "check", code, str(checked.get("log", "")),
                        codespace=str(checked.get("codespace", "")))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = rpc.get_tx(tx_hash)
        if found is not None:
            result = found.get("tx_result") or {}
            return TxResult(tx_hash, "block", int(result.get("code", 0)),
                            str(result.get("log", "")), int(found.get("height", 0)),
                            str(result.get("codespace", "")) or CODESPACE)
        time.sleep(POLL_INTERVAL_S)
    raise InclusionTimeoutError(f"tx {tx_hash} passed CheckTx but was not in a block after "
                                f"{timeout_s:g} s")
