"""Issue 15: CheckTx does at most one secp256k1 recovery per distinct tx, and none
for a tx that fails a cheaper check; Recheck and FinalizeBlock reuse the answer."""

from collections.abc import Iterator
from typing import Any

import pytest

from abci_app import chain
from abci_app.chain import txsign
from abci_app.chain.messages import tx as tx_pb
from abci_app.errors import (
    BadNonceError,
    BadSignatureError,
    UnauthorizedSignerError,
    UnknownSequencerError,
)
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import CHAIN_ID, ETH, make_body, make_chain, make_unjail_tx


@pytest.fixture
def recoveries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The signatures actually run through secp256k1 recovery."""
    txsign.clear_signature_cache()
    seen: list[bytes] = []
    real = txsign.PublicKey.from_signature_and_message

    def counting(signature: bytes, message: bytes, **kwargs: Any) -> Any:
        seen.append(signature)
        return real(signature, message, **kwargs)

    monkeypatch.setattr(txsign.PublicKey, "from_signature_and_message", counting)
    yield seen
    txsign.clear_signature_cache()


@pytest.fixture
def kv() -> MemoryKV:
    return make_chain([10 * ETH, 20 * ETH])


def test_a_second_check_of_the_same_tx_does_no_recovery(
        kv: MemoryKV, recoveries: list[bytes]) -> None:
    raw = make_unjail_tx(2, 0, 1)  # sequencer 2's signer unjailing sequencer 1
    for _ in range(3):  # CheckTx, Recheck, and FinalizeBlock's authentication
        assert chain.check_tx(kv, raw, CHAIN_ID).code == UnauthorizedSignerError.code
    assert len(recoveries) == 1


def test_a_signature_that_recovers_nothing_is_recovered_once(
        kv: MemoryKV, recoveries: list[bytes]) -> None:
    body = make_body(0, unjail=tx_pb.Unjail(sequencer_id=1)).SerializeToString()
    # r = 5 is no point's x coordinate, whatever the message
    signature = (5).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x00"
    raw = tx_pb.SignedTx(body=body, signature=signature).SerializeToString()
    codes = {chain.check_tx(kv, raw, CHAIN_ID).code for _ in range(3)}
    assert codes == {BadSignatureError.code}
    assert len(recoveries) == 1


@pytest.mark.parametrize(("nonce", "sequencer_id", "code"), [
    (10**9, 1, BadNonceError.code),  # not the sequencer's signer's next nonce
    (0, 99, UnknownSequencerError.code),
])
def test_cheap_rejections_do_no_recovery(kv: MemoryKV, recoveries: list[bytes], nonce: int,
                                         sequencer_id: int, code: int) -> None:
    raw = make_unjail_tx(1, nonce, sequencer_id)
    assert chain.check_tx(kv, raw, CHAIN_ID).code == code
    assert recoveries == []


def test_malformed_signatures_do_no_recovery(kv: MemoryKV, recoveries: list[bytes]) -> None:
    body = make_body(0, unjail=tx_pb.Unjail(sequencer_id=1)).SerializeToString()
    for signature in (b"", b"\x01" * 64 + b"\x05", b"\xff" * 65, b"\x00" * 65):
        raw = tx_pb.SignedTx(body=body, signature=signature).SerializeToString()
        assert chain.check_tx(kv, raw, CHAIN_ID).code == BadSignatureError.code
    assert recoveries == []
