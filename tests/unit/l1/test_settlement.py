"""The settlement batch in Python: encoding, the EIP-712 digest, signatures, the 2/3 rule."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app import settlement as s

CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
KEYS = [bytes([i + 1]) * 32 for i in range(4)]
HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
UINT64 = st.integers(0, 2**64 - 1)
UINT256 = st.integers(0, 2**256 - 1)


def make_batch(nonce: int = 1, chain_id: int = 31337) -> s.Batch:
    return s.Batch(
        nonce=nonce, chain_id=chain_id, verifying_contract=CONTRACT,
        releases=(s.Release(1, 10), s.Release(2, 5)),
        slashes=(s.Slash(3, s.SlashReason.DOUBLE_SIGN, 7, 2),),
        rewards=(s.Reward(1, 3),),
        lock_params=s.LockParams(1, 100, 86_400),
    )  # fmt: skip


def get_typed_data(batch: s.Batch) -> dict[str, Any]:
    """The same batch as an EIP-712 message for eth_account, an independent implementation."""
    def fields(spec: str) -> list[dict[str, str]]:
        return [dict(zip(("type", "name"), f.split(" "), strict=True)) for f in spec.split(",")]

    params = batch.lock_params
    return {
        "types": {
            "EIP712Domain": fields("string name,string version,uint256 chainId,"
                                   "address verifyingContract"),
            "Batch": fields("uint64 nonce,uint256 chainId,address verifyingContract,"
                            "Release[] releases,Slash[] slashes,Reward[] rewards,"
                            "LockParams[] lockParams"),
            "Release": fields("uint64 sequencerId,uint256 amount"),
            "Slash": fields("uint64 sequencerId,uint8 reason,uint256 fromLocked,"
                            "uint256 fromPending"),
            "Reward": fields("uint64 sequencerId,uint256 amount"),
            "LockParams": fields("uint256 minLock,uint256 maxLock,uint64 withdrawalDelay"),
        },
        "primaryType": "Batch",
        "domain": {"name": s.DOMAIN_NAME, "version": s.DOMAIN_VERSION,
                   "chainId": batch.chain_id,
                   "verifyingContract": "0x" + batch.verifying_contract.hex()},
        "message": {
            "nonce": batch.nonce, "chainId": batch.chain_id,
            "verifyingContract": "0x" + batch.verifying_contract.hex(),
            "releases": [{"sequencerId": r.sequencer_id, "amount": r.amount_wei}
                         for r in batch.releases],
            "slashes": [{"sequencerId": x.sequencer_id, "reason": int(x.reason),
                         "fromLocked": x.from_locked_wei, "fromPending": x.from_pending_wei}
                        for x in batch.slashes],
            "rewards": [{"sequencerId": r.sequencer_id, "amount": r.amount_wei}
                        for r in batch.rewards],
            "lockParams": [] if params is None else [{
                "minLock": params.min_lock_wei, "maxLock": params.max_lock_wei,
                "withdrawalDelay": params.withdrawal_delay_s}],
        },
    }  # fmt: skip


batches = st.builds(
    s.Batch,
    nonce=UINT64, chain_id=UINT256, verifying_contract=st.binary(min_size=20, max_size=20),
    releases=st.lists(st.builds(s.Release, UINT64, UINT256), max_size=3).map(tuple),
    slashes=st.lists(st.builds(s.Slash, UINT64, st.sampled_from(s.SlashReason), UINT256,
                               UINT256), max_size=3).map(tuple),
    rewards=st.lists(st.builds(s.Reward, UINT64, UINT256), max_size=3).map(tuple),
    lock_params=st.none() | st.builds(s.LockParams, UINT256, UINT256, UINT64),
)  # fmt: skip


def test_digest_matches_eth_account_typed_data() -> None:
    batch = make_batch()
    expected = _hash_eip191_message(encode_typed_data(full_message=get_typed_data(batch)))
    assert s.compute_batch_digest(batch) == bytes(expected)


@settings(max_examples=30, deadline=None)
@given(batches)
def test_digest_matches_eth_account_for_any_batch(batch: s.Batch) -> None:
    expected = _hash_eip191_message(encode_typed_data(full_message=get_typed_data(batch)))
    assert s.compute_batch_digest(batch) == bytes(expected)


@settings(max_examples=50, deadline=None)
@given(batches)
def test_encode_then_decode_returns_the_batch(batch: s.Batch) -> None:
    assert s.decode_batch(s.encode_batch(batch)) == batch


def test_every_domain_field_changes_the_digest() -> None:
    base = s.compute_batch_digest(make_batch())
    assert s.compute_batch_digest(make_batch(nonce=2)) != base
    assert s.compute_batch_digest(make_batch(chain_id=1)) != base
    other = s.Batch(1, 31337, b"\x01" * 20)
    assert s.compute_batch_digest(other) != s.compute_batch_digest(s.Batch(1, 31337, CONTRACT))


def test_signature_recovers_the_signer_address() -> None:
    digest = s.compute_batch_digest(make_batch())
    sig = s.sign_digest(digest, KEYS[0])
    assert sig.signer == bytes.fromhex(Account.from_key(KEYS[0]).address[2:])
    assert s.recover_signer(digest, sig) == sig.signer and s.is_signature_valid(digest, sig)
    # Verify the low-s form `settle` (OpenZeppelin ECDSA) demands
    assert int.from_bytes(sig.s, "big") <= HALF_CURVE_ORDER


def test_invalid_signature_over_another_digest_does_not_verify() -> None:
    sig = s.sign_digest(s.compute_batch_digest(make_batch()), KEYS[0])
    assert not s.is_signature_valid(s.compute_batch_digest(make_batch(nonce=2)), sig)
    assert s.recover_signer(b"\x00" * 32, s.BatchSignature(sig.signer, sig.r, sig.s, 29)) is None


def test_sort_signatures_orders_by_signer_address() -> None:
    digest = s.compute_batch_digest(make_batch())
    sigs = s.sort_signatures(s.sign_digest(digest, key) for key in KEYS)
    assert [sig.signer for sig in sigs] == sorted(sig.signer for sig in sigs)


def test_two_thirds_rule_is_strict_and_stops_at_the_mark() -> None:
    assert not s.is_quorum(2, 3) and s.is_quorum(3, 4) and not s.is_quorum(0, 0)
    stakes = {b"a": 1, b"b": 1, b"c": 1, b"d": 1}
    assert s.compute_signed_stake(stakes, [b"a", b"b"], 4) == (2, False)
    assert s.compute_signed_stake(stakes, [b"a", b"b", b"c", b"d"], 4) == (3, True)
    assert s.compute_signed_stake(stakes, [b"x", b"a", b"b"], 4) == (2, False)
