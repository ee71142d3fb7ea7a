"""check_tx and per-tx processing in FinalizeBlock: every rejection has its code."""

import pytest

from abci_app import chain
from abci_app.chain import txsign
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule
from abci_app.chain.state import (
    JAILED,
    get_account_nonce,
    get_chain_state,
    get_sequencer,
    put_sequencer,
)
from abci_app.errors import (
    BadNonceError,
    BadSignatureError,
    NotJailedError,
    ReservedPrefixError,
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
    make_removed_l2_progress_tx,
    make_unjail_tx,
    signer_address,
    signer_key,
)


def _producer(kv: MemoryKV) -> int:
    return get_current_producer(get_epoch_schedule(kv, 0))


@pytest.fixture
def kv() -> MemoryKV:
    return make_chain([10 * ETH, 20 * ETH])


def _jail(kv: MemoryKV, sequencer_id: int) -> None:
    """Jailed with its time served: an Unjail from it is valid."""
    seq = get_sequencer(kv, sequencer_id)
    seq.status = JAILED
    put_sequencer(kv, seq)


def test_valid_unjail_passes_check_tx_and_bumps_nonce(kv: MemoryKV) -> None:
    p = _producer(kv)
    _jail(kv, p)
    assert chain.check_tx(kv, make_unjail_tx(p, 0, p), CHAIN_ID).code == 0
    assert get_account_nonce(kv, signer_address(p)) == 1
    _jail(kv, p)  # check_tx runs against a mempool overlay: only the nonce moved
    assert chain.check_tx(kv, make_unjail_tx(p, 1, p), CHAIN_ID).code == 0


def test_removed_l2_progress_tx_is_an_unknown_message(kv: MemoryKV) -> None:
    p = _producer(kv)
    raw = make_removed_l2_progress_tx(p, 0, p)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnknownMessageError.code
    driver = make_driver([10 * ETH])
    assert [r.code for r in driver.block(txs=[raw]).tx_results] == [UnknownMessageError.code]
    assert get_chain_state(driver.kv).last_l2_height == 0


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
    raw = make_unjail_tx(p, 0, p, chain_id="other-chain")
    assert chain.check_tx(kv, raw, CHAIN_ID).code == WrongChainIdError.code


def test_invalid_unknown_message_is_rejected(kv: MemoryKV) -> None:
    raw = txsign.sign_tx(make_body(0), signer_key(1))
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnknownMessageError.code


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x01" * 64 + b"\x05",
                                       b"\xff" * 65, b"\x00" * 65])
def test_invalid_signature_is_rejected(kv: MemoryKV, signature: bytes) -> None:
    body = make_body(0, unjail=tx_pb.Unjail(sequencer_id=1))
    raw = tx_pb.SignedTx(body=body.SerializeToString(), signature=signature).SerializeToString()
    assert chain.check_tx(kv, raw, CHAIN_ID).code == BadSignatureError.code


def test_invalid_high_s_signature_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    signed = tx_pb.SignedTx()
    signed.ParseFromString(make_unjail_tx(p, 0, p))
    sig = signed.signature
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (txsign.SECP256K1_N - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    signed.signature = flipped
    assert chain.check_tx(kv, signed.SerializeToString(), CHAIN_ID).code == BadSignatureError.code


def test_invalid_wrong_nonce_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    assert chain.check_tx(kv, make_unjail_tx(p, 1, p), CHAIN_ID).code == BadNonceError.code
    assert get_account_nonce(kv, signer_address(p)) == 0


def test_invalid_replayed_tx_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    _jail(kv, p)
    raw = make_unjail_tx(p, 0, p)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == 0
    assert chain.check_tx(kv, raw, CHAIN_ID).code == BadNonceError.code


def test_invalid_unknown_sequencer_is_rejected(kv: MemoryKV) -> None:
    raw = make_unjail_tx(1, 0, 99)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnknownSequencerError.code


def test_invalid_signer_of_another_sequencer_is_rejected(kv: MemoryKV) -> None:
    p = _producer(kv)
    other = 1 if p == 2 else 2
    raw = make_unjail_tx(other, 0, p)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == UnauthorizedSignerError.code


def test_finalize_block_rechecks_and_consumes_nonce_of_failed_message() -> None:
    driver = make_driver([10 * ETH, 20 * ETH])
    p = _producer(driver.kv)
    _jail(driver.kv, p)
    outcome = driver.block(txs=[
        make_unjail_tx(p, 0, p),
        make_unjail_tx(p, 1, p),   # no longer jailed: fails, but its nonce is used
        make_unjail_tx(p, 1, p),   # replays nonce 1: rejected before any effect
        make_unjail_tx(p, 2, p),
        b"\xff\xff",
    ])
    codes = [r.code for r in outcome.tx_results]
    assert codes == [0, NotJailedError.code, BadNonceError.code, NotJailedError.code,
                     TxDecodeError.code]
    assert get_account_nonce(driver.kv, signer_address(p)) == 3


def test_recovered_sender_is_the_ethereum_address_of_the_key() -> None:
    # Known vector: private key 1 has address 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf.
    key = (1).to_bytes(32, "big")
    assert txsign.compute_signer_address(key).hex() == "7e5f4552091a69125d5dfcb7b8c2659029395bdf"
