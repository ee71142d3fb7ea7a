"""`seqset relayer`: submits the chain's complete settlement batches to the Locking contract.

Anyone may run one, and several may run at once: the contract's batch nonce
makes a batch settle once, so the worst a race costs is a reverted transaction.
Each step reads the in-flight batch (`/settlement/pending`) from a node and
  - does nothing while it is incomplete (signatures hold <= 2/3 of the stake);
  - skips it when L1's lastBatchNonce already reached it (someone settled it);
  - otherwise dry-runs `settle` (a revert is decoded to its custom error name),
    re-reads lastBatchNonce right before sending, and sends.
A revert `BadBatchNonce` means someone else settled first: skipped. Any other
failure (RPC down, another revert) is retried with capped exponential backoff.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from abci_app.settlement import (
    SIGNATURE_BYTES,
    SIGNATURE_V_OFFSET,
    Batch,
    BatchSignature,
    compute_batch_digest,
    decode_batch,
    sort_signatures,
)

log = logging.getLogger("seqset.relayer")

PENDING_PATH = "/settlement/pending"
NONCE_ALREADY_USED_ERROR = "BadBatchNonce"


class SettlementRevertedError(Exception):
    """`settle` reverted (in a dry run or mined); `error_name` is the custom error, if known."""

    def __init__(self, error_name: str | None, detail: str) -> None:
        super().__init__(f"settle reverted with {error_name or 'an unknown error'}: {detail}")
        self.error_name = error_name


class RelayerError(Exception):
    """The node answered something the relayer must not submit."""


@dataclass(frozen=True)
class PendingBatch:
    """The chain's in-flight batch, as /settlement/pending reports it."""

    nonce: int
    batch: Batch
    digest: bytes
    signatures: tuple[BatchSignature, ...]
    complete: bool
    signed_stake_wei: int
    total_stake_wei: int


class PendingSource(Protocol):
    def get_pending(self) -> PendingBatch | None:
        """The in-flight batch, or None when nothing is in flight."""


class SettlementTarget(Protocol):
    def get_last_batch_nonce(self) -> int: ...

    def dry_run(self, batch: Batch, signatures: Sequence[BatchSignature]) -> None:
        """Raises SettlementRevertedError when `settle` would revert."""

    def submit(self, batch: Batch, signatures: Sequence[BatchSignature]) -> str:
        """Sends `settle` and waits for it; the tx hash. SettlementRevertedError if it reverts."""


class Outcome(enum.Enum):
    NOTHING_IN_FLIGHT = "nothing in flight"
    INCOMPLETE = "waiting for signatures"
    ALREADY_SETTLED = "already settled on L1"
    WAITING_FOR_EARLIER = "an earlier batch is not yet settled on L1"
    SETTLED = "settled"


def compute_batch_signature(signer: bytes, signature: bytes) -> BatchSignature:
    """A (signer, 65-byte r || s || v) pair as `settle` takes it; v may be 0/1 or 27/28."""
    if len(signer) != 20 or len(signature) != SIGNATURE_BYTES:
        raise RelayerError(f"bad signature entry: signer {len(signer)} bytes, "
                           f"signature {len(signature)} bytes")
    v = signature[64]
    return BatchSignature(signer=signer, r=signature[:32], s=signature[32:64],
                          v=v + SIGNATURE_V_OFFSET if v < SIGNATURE_V_OFFSET else v)


def parse_pending(msg: Any) -> PendingBatch | None:
    """The /settlement/pending answer (QuerySettlementPendingResponse) as a PendingBatch;
    None when it carries no batch."""
    record = msg.batch
    if int(record.nonce) == 0:
        return None
    batch = decode_batch(bytes(record.batch))
    if batch.nonce != int(record.nonce):
        raise RelayerError(f"/settlement/pending: nonce {record.nonce} but the batch says "
                           f"{batch.nonce}")
    return PendingBatch(
        nonce=int(record.nonce), batch=batch, digest=bytes(record.digest),
        signatures=tuple(compute_batch_signature(bytes(s.signer), bytes(s.signature))
                         for s in record.signatures),
        complete=bool(msg.complete), signed_stake_wei=int(msg.signed_stake_wei or 0),
        total_stake_wei=int(msg.total_stake_wei or 0))


def is_nonce_used(exc: SettlementRevertedError) -> bool:
    return exc.error_name == NONCE_ALREADY_USED_ERROR


def process_pending(pending: PendingBatch | None, target: SettlementTarget) -> Outcome:
    """One relayer decision on the chain's in-flight batch; sends at most one `settle`."""
    if pending is None:
        return Outcome.NOTHING_IN_FLIGHT
    if not pending.complete:
        return Outcome.INCOMPLETE
    last = target.get_last_batch_nonce()
    if last >= pending.nonce:
        return Outcome.ALREADY_SETTLED
    if last != pending.nonce - 1:
        return Outcome.WAITING_FOR_EARLIER
    # Verify the node's digest is the batch's: never ask L1 to check what we did not.
    if compute_batch_digest(pending.batch) != pending.digest:
        raise RelayerError(f"batch {pending.nonce}: the node's digest is not the batch's")
    signatures = sort_signatures(pending.signatures)
    try:
        target.dry_run(pending.batch, signatures)
        # Another relayer may have settled it since the first read: never pay twice.
        if target.get_last_batch_nonce() >= pending.nonce:
            return Outcome.ALREADY_SETTLED
        tx_hash = target.submit(pending.batch, signatures)
    except SettlementRevertedError as exc:
        if is_nonce_used(exc) or target.get_last_batch_nonce() >= pending.nonce:
            return Outcome.ALREADY_SETTLED
        raise
    log.info("settled batch %d (%d items, %d signatures): tx %s", pending.nonce,
             pending.batch.item_count, len(signatures), tx_hash)
    return Outcome.SETTLED


def compute_backoff_s(failures: int, poll_interval_s: float, max_backoff_s: float) -> float:
    """The wait after `failures` failures in a row: doubling from the poll interval, capped."""
    return float(min(max_backoff_s, poll_interval_s * 2 ** min(max(failures, 1), 30)))


@dataclass
class RelayerStats:
    settled: list[int] = field(default_factory=list)  # batch nonces this relayer sent
    failures: int = 0  # in a row
    failures_total: int = 0
    last_error: str = ""
    last_outcome: Outcome | None = None


class Relayer:
    def __init__(self, source: PendingSource, target: SettlementTarget,
                 poll_interval_s: float = 2.0, max_backoff_s: float = 60.0) -> None:
        self.source = source
        self.target = target
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.stats = RelayerStats()

    def step(self) -> float:
        """One decision; the seconds to wait before the next. Never raises."""
        try:
            pending = self.source.get_pending()
            outcome = process_pending(pending, self.target)
        except Exception as exc:  # noqa: BLE001 - RPC down, a revert, a garbled answer: retry
            self.stats.failures += 1
            self.stats.failures_total += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            delay = compute_backoff_s(self.stats.failures, self.poll_interval_s,
                                      self.max_backoff_s)
            log.warning("relayer step failed (%d in a row, retrying in %.1fs): %s",
                        self.stats.failures, delay, self.stats.last_error[:300])
            return delay
        if self.stats.failures:
            log.info("relayer recovered after %d failures", self.stats.failures)
        self.stats.failures = 0
        if outcome is Outcome.SETTLED and pending is not None:
            self.stats.settled.append(pending.nonce)
        if outcome is not self.stats.last_outcome:
            nonce = pending.nonce if pending is not None else 0
            log.info("batch %d: %s", nonce, outcome.value)
            self.stats.last_outcome = outcome
        return 0.0 if outcome is Outcome.SETTLED else self.poll_interval_s


def run_relayer(relayer: Relayer, stop: threading.Event, metrics_address: str = "") -> None:
    from abci_app.l1.metrics import build_relayer_registry
    from abci_app.node.metrics import start_metrics_server

    metrics = start_metrics_server(metrics_address, build_relayer_registry(relayer))
    while not stop.is_set():
        delay = relayer.step()
        if delay > 0:
            stop.wait(delay)
    if metrics is not None:
        metrics.stop()


# ---------------------------------------------------------------- the real node and contract


class ChainPendingSource:
    """Reads /settlement/pending from a node's CometBFT RPC."""

    def __init__(self, node_rpc_url: str) -> None:
        from abci_app.l2.chain_reader import CometChainReader

        self.reader = CometChainReader(node_rpc_url)

    def get_pending(self) -> PendingBatch | None:
        from abci_app.client.rpc import QueryRejectedError

        try:
            return parse_pending(self.reader.query(PENDING_PATH))
        except QueryRejectedError as exc:  # no batch in flight (or no settlement configured)
            log.debug("%s", exc)
            return None


class ContractTarget:
    """The Locking contract, sending from the relayer's own key."""

    def __init__(self, dep: Any, sender_key: str) -> None:
        from eth_account import Account

        self.dep = dep
        self.sender_key = sender_key
        self.sender = Account.from_key(sender_key).address

    @contextmanager
    def _decoded_reverts(self) -> Iterator[None]:
        from web3.exceptions import ContractLogicError

        from abci_app.l1.contract import L1TxFailedError
        from abci_app.l1.reverts import decode_revert, get_revert_data

        try:
            yield
        except ContractLogicError as exc:
            revert = decode_revert(self.dep.locking.abi, get_revert_data(exc))
            raise SettlementRevertedError(revert.name, str(revert)) from exc
        except L1TxFailedError as exc:
            raise SettlementRevertedError(None, str(exc)) from exc

    def get_last_batch_nonce(self) -> int:
        from abci_app.l1.contract import get_last_batch_nonce

        return get_last_batch_nonce(self.dep)

    def dry_run(self, batch: Batch, signatures: Sequence[BatchSignature]) -> None:
        from abci_app.l1.contract import get_settle_call

        with self._decoded_reverts():
            get_settle_call(self.dep, batch, signatures).call({"from": self.sender})

    def submit(self, batch: Batch, signatures: Sequence[BatchSignature]) -> str:
        from abci_app.l1.contract import settle

        with self._decoded_reverts():
            receipt = settle(self.dep, self.sender_key, batch, signatures)
        return str(receipt["transactionHash"].to_0x_hex())


def read_sender_key(path: Path) -> str:
    """The 0x-hex private key in `path`: JSON {"private_key": hex} or the bare hex."""
    try:
        text = path.read_text().strip()
        raw = json.loads(text)["private_key"] if text.startswith("{") else text
        key = bytes.fromhex(str(raw).removeprefix("0x"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the relayer's sender key {path}: {exc}") from exc
    if len(key) != 32:
        raise ValueError(f"{path}: the sender key has {len(key)} bytes, expected 32")
    return "0x" + key.hex()
