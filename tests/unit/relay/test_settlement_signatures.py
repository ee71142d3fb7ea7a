"""Settlement signatures in the relay: the extension carries one, the proposer keeps the
ones that recover to the stored signer of the validator that sent them, and a proposal
listing any other one is rejected."""

from dataclasses import replace
from typing import Any

import pytest

from abci_app import pb
from abci_app.chain.txsign import SECP256K1_N
from abci_app.devnet.relay_testing import (
    compute_commit_info,
    get_valset,
    make_attested_tx,
    make_settlement_key,
    make_settlement_signature,
)
from abci_app.relay.attested_tx import (
    InvalidAttestedTx,
    build_attested_tx,
    decode_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension, decode_extension, verify_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.settlement_checks import compute_settlement_signer
from abci_app.relay.tally import compute_supporting_commit, prune_extended_commit, tally_attested
from abci_app.relay.types import Attested, RelayView, SettlementView
from abci_app.settlement import compute_signer_address
from tests.unit.relay.helpers import CHAIN_ID, HEIGHT, HEIGHT_VOTED, PARAMS, make_scenario

NONCE = 3
DIGEST = bytes(range(32))
KEYS = [make_settlement_key(i) for i in range(4)]
SIGNERS = [compute_signer_address(key) for key in KEYS]
BYZANTINE = 3


def sign(index: int, digest: bytes = DIGEST, nonce: int = NONCE, key: bytes | None = None) -> Any:
    return make_settlement_signature(digest, KEYS[index] if key is None else key, nonce)


def ext(signature: Any | None) -> bytes:
    return build_extension((), 0, PARAMS, settlement_signature=signature)


def make_view(validators: Any, collected: frozenset[bytes] = frozenset()) -> RelayView:
    signers = {v.entry.address: SIGNERS[i] for i, v in enumerate(validators)}
    return RelayView(settlement=SettlementView(NONCE, DIGEST, signers, collected))


def byzantine_scenario() -> tuple[Any, Any, RelayView]:
    """Validators 0-2 sign honestly; 3 signs with a key that is not its stored signer."""
    extensions = {i: ext(sign(i)) for i in range(3)}
    extensions[BYZANTINE] = ext(sign(BYZANTINE, key=make_settlement_key(99)))
    validators, commit = make_scenario(extensions)
    return validators, commit, make_view(validators)


def honest_signatures() -> tuple[tuple[bytes, bytes], ...]:
    return tuple(sorted((SIGNERS[i], bytes(sign(i).signature)) for i in range(3)))


def listed(attested: Attested) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((item.signer, item.signature) for item in attested.settlement_signatures)


def verify(tx: bytes, commit: Any, validators: Any, view: RelayView) -> Attested:
    return verify_attested_tx(tx, compute_commit_info(commit), get_valset(validators), HEIGHT,
                              CHAIN_ID, view, PARAMS)


# ---------------------------------------------------------------- the extension


def test_extension_carries_a_settlement_signature() -> None:
    data = decode_extension(ext(sign(0)), PARAMS)
    assert data is not None and data.settlement_signature == sign(0)


def test_extension_with_only_a_signature_fits_the_smallest_budget() -> None:
    params = RelayParams(max_extension_bytes=256, max_attested_tx_bytes=4096)
    assert decode_extension(build_extension((), 0, params, settlement_signature=sign(0)),
                            params) is not None


@pytest.mark.parametrize("signature", [b"\x01" * 64, b"\x01" * 66, b""])
def test_invalid_extension_with_a_malformed_signature_is_rejected(signature: bytes) -> None:
    bad = pb.relay.VoteExtension(settlement_signature=pb.relay.SettlementSignature(
        batch_nonce=NONCE, signature=signature)).SerializeToString(deterministic=True)
    assert decode_extension(bad, PARAMS) is None and not verify_extension(bad, PARAMS)


def test_extension_signing_another_batch_is_accepted_but_not_counted() -> None:
    other = ext(sign(0, digest=b"\x07" * 32))
    assert verify_extension(other, PARAMS)
    validators, commit = make_scenario({0: other, 1: ext(sign(1, nonce=NONCE + 1))})
    assert tally_attested(commit, get_valset(validators), make_view(validators),
                          PARAMS).settlement_signatures == ()


def test_high_s_twin_of_a_valid_signature_is_not_counted() -> None:
    """`settle` rejects a high s (OpenZeppelin ECDSA), though it recovers the same signer."""
    raw = bytes(sign(0).signature)
    s = SECP256K1_N - int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + s.to_bytes(32, "big") + bytes([raw[64] ^ 1])
    assert compute_settlement_signer(DIGEST, raw) == SIGNERS[0]
    assert compute_settlement_signer(DIGEST, twin) is None


# ---------------------------------------------------------------- the proposer


def test_proposer_prunes_a_byzantine_signature_and_keeps_the_honest_three() -> None:
    validators, commit, view = byzantine_scenario()
    pruned = prune_extended_commit(commit, get_valset(validators), HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_attested(pruned, get_valset(validators), view, PARAMS)
    assert listed(attested) == honest_signatures()
    assert all(item.batch_nonce == NONCE for item in attested.settlement_signatures)


def test_signature_from_a_collected_signer_is_not_listed_again() -> None:
    validators, commit, _ = byzantine_scenario()
    view = make_view(validators, collected=frozenset(SIGNERS[:2]))
    attested = tally_attested(commit, get_valset(validators), view, PARAMS)
    assert [item.signer for item in attested.settlement_signatures] == [SIGNERS[2]]


def test_no_in_flight_batch_counts_no_signature() -> None:
    validators, commit, _ = byzantine_scenario()
    assert tally_attested(commit, get_valset(validators), RelayView(), PARAMS).is_empty()


def test_signatures_alone_make_an_attested_tx_that_verifies() -> None:
    validators, commit, view = byzantine_scenario()
    attested = tally_attested(commit, get_valset(validators), view, PARAMS)
    tx = build_attested_tx(commit, attested, PARAMS)
    assert tx is not None
    assert listed(verify(tx, commit, validators, view)) == honest_signatures()


def test_supporting_commit_keeps_every_signature_carrier() -> None:
    validators, commit, view = byzantine_scenario()
    valset = get_valset(validators)
    attested = tally_attested(commit, valset, view, PARAMS)
    smaller = compute_supporting_commit(commit, valset, attested, PARAMS)
    assert smaller is not None
    assert tally_attested(smaller, valset, view, PARAMS).settlement_signatures == (
        attested.settlement_signatures)


# ---------------------------------------------------------------- crafted proposals


def craft(commit: Any, signatures: list[Any]) -> bytes:
    return make_attested_tx(commit, [], settlement_signatures=signatures)


def test_invalid_proposal_keeping_the_byzantine_signature_is_rejected() -> None:
    validators, commit, view = byzantine_scenario()
    bad = sign(BYZANTINE, key=make_settlement_key(99))
    honest = [sign(i) for i in sorted(range(3), key=lambda i: SIGNERS[i])]
    with pytest.raises(InvalidAttestedTx, match="not one the votes carry"):
        verify(craft(commit, [*honest, bad]), commit, validators, view)


@pytest.mark.parametrize("mutate", ["duplicate", "unsorted", "other_nonce", "collected"])
def test_invalid_proposal_with_a_bad_signature_list_is_rejected(mutate: str) -> None:
    validators, commit, view = byzantine_scenario()
    order = sorted(range(3), key=lambda i: SIGNERS[i])
    signatures = [sign(i) for i in order]
    if mutate == "duplicate":
        signatures = [signatures[0], *signatures]
    elif mutate == "unsorted":
        signatures = signatures[::-1]
    elif mutate == "other_nonce":
        signatures = [replace_nonce(signatures[0], NONCE + 1)]
    else:
        view = make_view(validators, collected=frozenset({SIGNERS[order[0]]}))
    with pytest.raises(InvalidAttestedTx):
        verify(craft(commit, signatures), commit, validators, view)


def replace_nonce(signature: Any, nonce: int) -> Any:
    return pb.relay.SettlementSignature(batch_nonce=nonce, signature=signature.signature)


def test_proposal_may_list_a_subset_of_the_counted_signatures() -> None:
    validators, commit, view = byzantine_scenario()
    first = min(range(3), key=lambda i: SIGNERS[i])
    verified = verify(craft(commit, [sign(first)]), commit, validators, view)
    assert listed(verified) == ((SIGNERS[first], bytes(sign(first).signature)),)


def test_signer_is_recovered_not_read_from_the_tx() -> None:
    validators, commit, view = byzantine_scenario()
    attested = tally_attested(commit, get_valset(validators), view, PARAMS)
    forged = replace(attested, settlement_signatures=tuple(
        replace(item, signer=b"\xee" * 20) for item in attested.settlement_signatures))
    tx = build_attested_tx(commit, forged, PARAMS)
    assert tx is not None
    body = decode_attested_tx(tx)
    assert body is not None and len(body.settlement_signatures) == 3
    assert [item.signer for item in verify(tx, commit, validators, view)
            .settlement_signatures] == sorted(SIGNERS[:3])
