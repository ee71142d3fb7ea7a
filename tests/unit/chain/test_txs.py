"""check_tx and per-tx processing in FinalizeBlock: every rejection has its code."""

import pytest

from abci_app import chain
from abci_app.chain import txsign
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule
from abci_app.chain.state import JAILED, get_account_nonce, get_sequencer, put_sequencer
from abci_app.errors import (
    BadNonceError,
    BadSignatureError,
    InvalidFieldError,
    L2ProgressBeyondEpochError,
    NotActiveError,
    NotScheduledProducerError,
    ReservedPrefixError,
    StaleL2ProgressError,
    TxDecodeError,
    TxTooLargeError,
    UnauthorizedSignerError,
    UnknownMessageError,
    UnknownSequencerError,
    WrongChainIdError,
)
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    make_body,
    make_chain,
    make_driver,
    make_l2_progress_tx,
    signer_address,
    signer_key,
)


def _producer(kv: MemoryKV) -> int:
    return get_current_producer(get_epoch_schedule(kv, 0))


@pytest.fixture
def kv() -> MemoryKV:
    return make_chain([10 * ETH, 20 * ETH])


def test_valid_l2_progress_passes_check_tx_and_bumps_nonce(kv: MemoryKV) -> None:
    p = _producer(kv)
    assert chain.check_tx(kv, make_l2_progress_tx(p, 0, p, 1), CHAIN_ID).code == 0
    assert get_account_nonce(kv, signer_address(p)) == 1
    assert chain.check_tx(kv, make_l2_progress_tx(p, 1, p, 2), CHAIN_ID).code == 0


def test_invalid_reserved_prefix_is_rejected(kv: MemoryKV) -> None:
    outcome = chain.check_tx(kv, chain.RESERVED_PREFIX + b"anything", CHAIN_ID)
    assert outcome.code == ReservedPrefixError.code


def test_invalid_oversized_tx_is_rejected(kv: MemoryKV) -> None:
    assert chain.check_tx(kv, b"\x0a" * 20_000, CHAIN_ID).code == TxTooLargeError.code


@pytest.mark.parametrize("raw", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xff"])
def test_invalid_undecodable_bytes_are_rejected(kv: MemoryKV, raw: bytes) -> None:
    assert chain.check_tx(kv, raw, CHAIN_ID).code == TxDecodeError.code


def test_invalid_wrong_chain_id_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    raw = make_l2_progress_tx(p, 0, p, 1, chain_id="other-chain")
    assert chain.check_tx(kv, raw, CHAIN_ID).code == WrongChainIdError.code


def test_invalid_unknown_message_is_rejected(kv: MemoryKV) -> None:
    raw = txsign.sign_tx(make_body(0), signer_key(1))
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnknownMessageError.code


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x01" * 64 + b"\x05",
                                       b"\xff" * 65, b"\x00" * 65])
def test_invalid_signature_is_rejected(kv: MemoryKV, signature: bytes) -> None:
    body = make_body(0, l2_progress=tx_pb.L2Progress(sequencer_id=1, l2_height=1,
                                                     l2_block_hash=b"\x01" * 32))
    raw = tx_pb.SignedTx(body=body.SerializeToString(), signature=signature).SerializeToString()
    assert chain.check_tx(kv, raw, CHAIN_ID).code == BadSignatureError.code


def test_invalid_high_s_signature_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    signed = tx_pb.SignedTx()
    signed.ParseFromString(make_l2_progress_tx(p, 0, p, 1))
    sig = signed.signature
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (txsign.SECP256K1_N - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    signed.signature = flipped
    assert chain.check_tx(kv, signed.SerializeToString(), CHAIN_ID).code == BadSignatureError.code


def test_invalid_wrong_nonce_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    assert chain.check_tx(kv, make_l2_progress_tx(p, 1, p, 1), CHAIN_ID).code == BadNonceError.code
    assert get_account_nonce(kv, signer_address(p)) == 0


def test_invalid_replayed_tx_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    raw = make_l2_progress_tx(p, 0, p, 1)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == 0
    assert chain.check_tx(kv, raw, CHAIN_ID).code == BadNonceError.code


def test_invalid_unknown_sequencer_is_rejected(kv: MemoryKV) -> None:
    raw = make_l2_progress_tx(1, 0, 99, 1)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnknownSequencerError.code


def test_invalid_signer_of_another_sequencer_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    other = 1 if p == 2 else 2
    raw = make_l2_progress_tx(other, 0, p, 1)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnauthorizedSignerError.code


def test_invalid_progress_from_unscheduled_sequencer_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    other = 1 if p == 2 else 2
    raw = make_l2_progress_tx(other, 0, other, 1)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == NotScheduledProducerError.code


def test_invalid_progress_past_epoch_end_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    raw = make_l2_progress_tx(p, 0, p, 11)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == L2ProgressBeyondEpochError.code


def test_finalize_block_rechecks_and_consumes_nonce_of_failed_message() -> None:
    driver = make_driver([10 * ETH, 20 * ETH])
    p = _producer(driver.kv)
    outcome = driver.block(txs=[
        make_l2_progress_tx(p, 0, p, 3),
        make_l2_progress_tx(p, 1, p, 2),   # stale: fails, but its nonce is used
        make_l2_progress_tx(p, 1, p, 4),   # replays nonce 1: rejected before any effect
        make_l2_progress_tx(p, 2, p, 5),
        b"\xff\xff",
    ])
    codes = [r.code for r in outcome.tx_results]
    assert codes == [0, StaleL2ProgressError.code, BadNonceError.code, 0, TxDecodeError.code]
    assert get_account_nonce(driver.kv, signer_address(p)) == 3


def test_l2_progress_resets_missed_production_counter() -> None:
    driver = make_driver([10 * ETH])
    seq = get_sequencer(driver.kv, 1)
    seq.missed_productions = 2
    put_sequencer(driver.kv, seq)
    driver.block(txs=[make_l2_progress_tx(1, 0, 1, 1)])
    assert get_sequencer(driver.kv, 1).missed_productions == 0


def test_recovered_sender_is_the_ethereum_address_of_the_key() -> None:
    # Known vector: private key 1 has address 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf.
    key = (1).to_bytes(32, "big")
    assert txsign.compute_signer_address(key).hex() == "7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def test_invalid_progress_from_jailed_producer_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    seq = get_sequencer(kv, p)
    seq.status = JAILED
    put_sequencer(kv, seq)
    assert chain.check_tx(kv, make_l2_progress_tx(p, 0, p, 1), CHAIN_ID).code == NotActiveError.code


def test_invalid_progress_with_short_block_hash_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    body = make_body(0, l2_progress=tx_pb.L2Progress(sequencer_id=p, l2_height=1,
                                                     l2_block_hash=b"\x01" * 31))
    raw = txsign.sign_tx(body, signer_key(p))
    assert chain.check_tx(kv, raw, CHAIN_ID).code == InvalidFieldError.code
