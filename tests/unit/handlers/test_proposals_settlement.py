"""Settlement signatures through the ABCI handlers: ExtendVote signs the in-flight batch
with the settlement key (no key, no signature), PrepareProposal injects the ones that
recover to each validator's stored signer (alone if need be), ProcessProposal rejects a
crafted list keeping a byzantine one, and FinalizeBlock hands the chain the rest."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from abci_app import chain, pb
from abci_app.chain.messages import state
from abci_app.devnet.relay_testing import (
    compute_commit_info,
    make_attested_tx,
    make_extended_commit,
    make_settlement_key,
    make_settlement_signature,
    make_validators,
)
from abci_app.handlers import proposals
from abci_app.handlers.blocks import build_block_input
from abci_app.handlers.proposals import ACCEPT_PROPOSAL, REJECT_PROPOSAL, ProposalHandler
from abci_app.relay.attested_tx import decode_attested_tx
from abci_app.relay.extension import build_extension, decode_extension
from abci_app.relay.params import RelayParams
from abci_app.settlement import BatchSignature, compute_signer_address, recover_signer
from abci_app.store.kv import MemoryKV

CHAIN_ID = "proposals-settlement"
VALIDATORS = make_validators([10, 10, 10, 10], label="proposals-settlement")
KEYS = [make_settlement_key(i) for i in range(4)]
SIGNERS = [compute_signer_address(key) for key in KEYS]
BYZANTINE = 3
NONCE, DIGEST = 2, bytes(range(100, 132))
HEIGHT = 2


def make_kv() -> MemoryKV:
    sequencers = [
        {"id": v.entry.sequencer_id, "owner": bytes([v.entry.sequencer_id]) * 20,
         "signer": SIGNERS[i], "consensus_pubkey": v.entry.pub_key, "locked_wei": 10 * 10**18}
        for i, v in enumerate(VALIDATORS)
    ]
    kv = MemoryKV()
    chain.init_chain(kv, json.dumps(chain.make_genesis_app_state(sequencers)).encode(),
                     CHAIN_ID, 0, 1)
    return kv


KV = make_kv()
COLLECTED: list[bytes] = []


@pytest.fixture(autouse=True)
def in_flight_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Batch NONCE in flight with digest DIGEST; COLLECTED signers already stored."""
    def get_batch(kv: Any) -> Any:
        return state.SettlementBatch(nonce=NONCE, digest=DIGEST, signatures=[
            state.BatchSignatureRecord(signer=s, signature=b"\x01" * 65) for s in COLLECTED])
    monkeypatch.setattr(chain, "get_pending_settlement", lambda kv: (NONCE, DIGEST))
    monkeypatch.setattr(proposals, "get_in_flight_batch", get_batch)
    COLLECTED.clear()
    yield


def extend(key: bytes | None) -> bytes:
    return ProposalHandler(settlement_key=key).extend(
        pb.abci.RequestExtendVote(height=HEIGHT), KV)


def votes() -> Any:
    """Validators 0-2 sign with their stored signer's key; 3 with some other key."""
    extensions = {i: extend(KEYS[i]) for i in range(3)}
    extensions[BYZANTINE] = extend(make_settlement_key(99))
    return make_extended_commit(VALIDATORS, extensions, HEIGHT - 1, CHAIN_ID)


def prepare(commit: Any) -> list[bytes]:
    request = pb.abci.RequestPrepareProposal(height=HEIGHT, local_last_commit=commit,
                                             max_tx_bytes=10**6, txs=[b"user"])
    return ProposalHandler().prepare(request, KV, CHAIN_ID)


def process(txs: list[bytes], commit: Any) -> int:
    request = pb.abci.RequestProcessProposal(height=HEIGHT, txs=txs,
                                             proposed_last_commit=compute_commit_info(commit))
    return int(ProposalHandler().process(request, KV, CHAIN_ID))


def test_extend_signs_the_in_flight_digest_with_the_settlement_key() -> None:
    data = decode_extension(extend(KEYS[0]), RelayParams())
    assert data is not None and data.settlement_signature is not None
    assert data.settlement_signature.batch_nonce == NONCE
    raw = bytes(data.settlement_signature.signature)
    assert recover_signer(DIGEST, BatchSignature(b"", raw[:32], raw[32:64], raw[64])) == (
        SIGNERS[0])


def test_extend_without_a_key_carries_no_signature() -> None:
    assert extend(None) == b""


def test_extend_without_a_batch_carries_no_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "get_pending_settlement", lambda kv: None)
    assert extend(KEYS[0]) == b""


def test_extend_with_a_bad_key_carries_no_signature_and_does_not_raise() -> None:
    assert extend(b"\x00" * 32) == b""


def test_signatures_alone_are_injected_without_the_byzantine_one() -> None:
    commit = votes()
    txs = prepare(commit)
    body = decode_attested_tx(txs[0])
    assert body is not None and txs[1:] == [b"user"]
    carried = [bytes(sig.signature) for sig in body.settlement_signatures]
    honest = {bytes(make_settlement_signature(DIGEST, KEYS[i], NONCE).signature): SIGNERS[i]
              for i in range(3)}
    assert sorted(carried) == sorted(honest) and len(carried) == 3
    assert [honest[sig] for sig in carried] == sorted(SIGNERS[:3])
    assert process(txs, commit) == ACCEPT_PROPOSAL
    # FinalizeBlock: the chain gets (signer, signature), ascending by signer
    request = pb.abci.RequestFinalizeBlock(height=HEIGHT, txs=txs,
                                           decided_last_commit=compute_commit_info(commit))
    attested, user_txs, result = ProposalHandler().attested_events_for_block(request, KV,
                                                                             CHAIN_ID)
    assert result is not None and result.code == 0, result
    block = build_block_input(request, CHAIN_ID, b"", attested, user_txs)
    assert block.settlement_signatures == sorted((honest[sig], sig) for sig in carried)


def test_collected_signers_are_not_injected_again() -> None:
    COLLECTED.extend(SIGNERS[:3])
    assert prepare(votes()) == [b"user"]


def test_invalid_crafted_proposal_keeping_the_byzantine_signature_is_rejected() -> None:
    commit = votes()
    order = sorted(range(4), key=lambda i: SIGNERS[i])
    listed = [make_settlement_signature(DIGEST, KEYS[i] if i != BYZANTINE
                                        else make_settlement_key(99), NONCE) for i in order]
    assert process([make_attested_tx(commit, [], settlement_signatures=listed)],
                   commit) == REJECT_PROPOSAL
    honest = [sig for i, sig in zip(order, listed, strict=True) if i != BYZANTINE]
    assert process([make_attested_tx(commit, [], settlement_signatures=honest)],
                   commit) == ACCEPT_PROPOSAL


def test_invalid_duplicated_signature_is_rejected() -> None:
    commit = votes()
    first = min(range(3), key=lambda i: SIGNERS[i])
    signature = make_settlement_signature(DIGEST, KEYS[first], NONCE)
    tx = make_attested_tx(commit, [], settlement_signatures=[signature, signature])
    assert process([tx], commit) == REJECT_PROPOSAL


def test_extension_without_feed_still_fits_with_events() -> None:
    """A signature rides beside the sidecar's parts in one extension."""
    params = RelayParams()
    signature = make_settlement_signature(DIGEST, KEYS[0], NONCE)
    data = decode_extension(build_extension((), 0, params, settlement_signature=signature),
                            params)
    assert data is not None and data.settlement_signature == signature
