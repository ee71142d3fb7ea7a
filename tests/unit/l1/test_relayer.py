"""The relayer's decisions against a fake node and a fake contract: it sends a complete batch
once, skips what L1 already settled, decodes reverts and backs off while anything is down."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state as state_pb
from abci_app.l1.relayer import (
    Outcome,
    PendingBatch,
    Relayer,
    RelayerError,
    SettlementRevertedError,
    compute_backoff_s,
    compute_batch_signature,
    parse_pending,
    process_pending,
    read_sender_key,
)
from abci_app.settlement import (
    Batch,
    BatchSignature,
    Release,
    compute_batch_digest,
    encode_batch,
    sign_digest,
)

CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
KEYS = [bytes([i + 1]) * 32 for i in range(4)]


def make_pending(nonce: int = 1, complete: bool = True, signers: int = 3) -> PendingBatch:
    batch = Batch(nonce=nonce, chain_id=31337, verifying_contract=CONTRACT,
                  releases=(Release(1, 10**18),))
    digest = compute_batch_digest(batch)
    sigs = tuple(sign_digest(digest, key) for key in KEYS[:signers])
    return PendingBatch(nonce=nonce, batch=batch, digest=digest, signatures=sigs,
                        complete=complete, signed_stake_wei=3, total_stake_wei=4)


@dataclass
class FakeContract:
    last_nonce: int = 0
    dry_run_error: str | None = None  # a custom error name the dry run reverts with
    submit_error: str | None = None
    settle_on_dry_run: bool = False  # someone else settles between our dry run and send
    down: bool = False
    sent: list[tuple[int, list[bytes]]] = field(default_factory=list)

    def get_last_batch_nonce(self) -> int:
        if self.down:
            raise ConnectionError("L1 RPC down")
        return self.last_nonce

    def dry_run(self, batch: Batch, signatures: Sequence[BatchSignature]) -> None:
        if self.dry_run_error:
            raise SettlementRevertedError(self.dry_run_error, "0x")
        if self.settle_on_dry_run:
            self.last_nonce = batch.nonce

    def submit(self, batch: Batch, signatures: Sequence[BatchSignature]) -> str:
        if self.submit_error:
            raise SettlementRevertedError(self.submit_error, "0x")
        assert batch.nonce == self.last_nonce + 1, "the fake contract was asked to double-pay"
        self.sent.append((batch.nonce, [s.signer for s in signatures]))
        self.last_nonce = batch.nonce
        return "0xabc"


@dataclass
class FakeNode:
    pending: PendingBatch | None = None
    down: bool = False

    def get_pending(self) -> PendingBatch | None:
        if self.down:
            raise ConnectionError("node RPC down")
        return self.pending


def test_complete_batch_is_settled_once_with_sorted_signatures() -> None:
    l1, pending = FakeContract(), make_pending()
    assert process_pending(pending, l1) is Outcome.SETTLED
    assert len(l1.sent) == 1 and l1.sent[0][1] == sorted(l1.sent[0][1])
    # The chain has not seen BatchSettled yet and still reports it: not sent again.
    assert process_pending(pending, l1) is Outcome.ALREADY_SETTLED
    assert len(l1.sent) == 1


def test_incomplete_batch_is_not_sent() -> None:
    l1 = FakeContract()
    assert process_pending(make_pending(complete=False), l1) is Outcome.INCOMPLETE
    assert process_pending(None, l1) is Outcome.NOTHING_IN_FLIGHT
    assert l1.sent == []


def test_batch_settled_by_someone_else_is_skipped() -> None:
    assert process_pending(make_pending(nonce=3), FakeContract(last_nonce=5)) \
        is Outcome.ALREADY_SETTLED
    raced = FakeContract(settle_on_dry_run=True)
    assert process_pending(make_pending(), raced) is Outcome.ALREADY_SETTLED
    assert raced.sent == []


def test_revert_bad_batch_nonce_means_settled_elsewhere() -> None:
    l1 = FakeContract(submit_error="BadBatchNonce")
    assert process_pending(make_pending(), l1) is Outcome.ALREADY_SETTLED


def test_batch_ahead_of_l1_waits_for_the_earlier_one() -> None:
    l1 = FakeContract(last_nonce=0)
    assert process_pending(make_pending(nonce=3), l1) is Outcome.WAITING_FOR_EARLIER
    assert l1.sent == []


def test_invalid_other_revert_is_raised_with_its_name() -> None:
    with pytest.raises(SettlementRevertedError, match="InsufficientSignedStake"):
        process_pending(make_pending(), FakeContract(dry_run_error="InsufficientSignedStake"))


def test_invalid_digest_mismatch_is_never_sent() -> None:
    l1 = FakeContract()
    with pytest.raises(RelayerError, match="digest"):
        process_pending(replace(make_pending(), digest=b"\x00" * 32), l1)
    assert l1.sent == []


def test_rpc_down_backs_off_exponentially_capped_then_recovers() -> None:
    node, l1 = FakeNode(make_pending()), FakeContract(down=True)
    relayer = Relayer(node, l1, poll_interval_s=1.0, max_backoff_s=5.0)
    delays = [relayer.step() for _ in range(5)]
    assert delays == [2.0, 4.0, 5.0, 5.0, 5.0]
    assert "L1 RPC down" in relayer.stats.last_error
    l1.down = False
    assert relayer.step() == 0.0 and relayer.stats.settled == [1]
    assert relayer.step() == 1.0 and relayer.stats.failures == 0
    node.down = True
    assert relayer.step() == 2.0
    assert len(l1.sent) == 1


def test_backoff_doubles_from_the_poll_interval() -> None:
    assert [compute_backoff_s(n, 0.5, 3.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]


def make_answer(pending: PendingBatch, nonce: int | None = None
                ) -> query_pb.QuerySettlementPendingResponse:
    record = state_pb.SettlementBatch(
        nonce=pending.nonce if nonce is None else nonce, batch=encode_batch(pending.batch),
        digest=pending.digest, status=state_pb.SETTLEMENT_STATUS_IN_FLIGHT,
        signatures=[state_pb.BatchSignatureRecord(signer=s.signer, signature=s.r + s.s
                                                  + bytes([s.v - 27]))
                    for s in pending.signatures])
    return query_pb.QuerySettlementPendingResponse(
        batch=record, complete=pending.complete, signed_stake_wei=str(pending.signed_stake_wei),
        total_stake_wei=str(pending.total_stake_wei))


def test_parse_pending_from_the_query_answer() -> None:
    pending = make_pending()
    assert parse_pending(make_answer(pending)) == pending
    assert parse_pending(query_pb.QuerySettlementPendingResponse()) is None
    with pytest.raises(RelayerError, match="nonce"):
        parse_pending(make_answer(pending, nonce=2))
    with pytest.raises(RelayerError, match="signature"):
        compute_batch_signature(b"\x01" * 20, b"\x02" * 64)


def test_sender_key_file_json_or_hex(tmp_path: Path) -> None:
    key = "11" * 32
    (tmp_path / "a.json").write_text(f'{{"address": "0x00", "private_key": "{key}"}}')
    (tmp_path / "b").write_text(f"0x{key}\n")
    assert read_sender_key(tmp_path / "a.json") == read_sender_key(tmp_path / "b") == "0x" + key
    (tmp_path / "c").write_text("0x1234")
    with pytest.raises(ValueError, match="32"):
        read_sender_key(tmp_path / "c")
