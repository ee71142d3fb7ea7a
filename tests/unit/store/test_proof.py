"""Membership and non-membership proofs against the app hash."""

from hypothesis import given
from hypothesis import strategies as st

from abci_app.store import smt
from abci_app.store.proof import verify_proof
from tests.unit.store.helpers import ZERO, DictTree

keys = st.binary(min_size=0, max_size=2)
states = st.dictionaries(keys, st.binary(max_size=3), max_size=40)


def build(items: dict[bytes, bytes]) -> DictTree:
    tree = DictTree()
    tree.apply(dict(items))
    return tree


@given(states, keys)
def test_proof_verifies_membership_or_non_membership(items: dict[bytes, bytes], key: bytes) -> None:
    tree = build(items)
    proof = smt.get_proof(tree.nodes.get, key)
    assert verify_proof(tree.root, key, items.get(key), proof)


@given(states, keys)
def test_proof_fails_for_the_wrong_claim(items: dict[bytes, bytes], key: bytes) -> None:
    tree = build(items)
    proof = smt.get_proof(tree.nodes.get, key)
    if key in items:
        assert not verify_proof(tree.root, key, None, proof)
        assert not verify_proof(tree.root, key, items[key] + b"x", proof)
    else:
        assert not verify_proof(tree.root, key, b"", proof)


@given(states.filter(bool), st.data())
def test_tampered_proof_fails(items: dict[bytes, bytes], data: st.DataObject) -> None:
    tree = build(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = bytearray(smt.get_proof(tree.nodes.get, key))
    at = data.draw(st.integers(0, len(proof) - 1))
    proof[at] ^= data.draw(st.integers(1, 255))
    assert not verify_proof(tree.root, key, items[key], bytes(proof))


@given(states, keys)
def test_proof_fails_against_another_root(items: dict[bytes, bytes], key: bytes) -> None:
    tree = build(items)
    proof = smt.get_proof(tree.nodes.get, key)
    other = bytes(31) + b"\x01"
    assert not verify_proof(other, key, items.get(key), proof)


@given(st.binary(max_size=300), keys, st.none() | st.binary(max_size=3))
def test_malformed_proof_is_false_never_an_exception(proof: bytes, key: bytes,
                                                     value: bytes | None) -> None:
    assert verify_proof(ZERO, key, value, proof) in (True, False)


def test_truncated_or_padded_proof_fails() -> None:
    tree = build({bytes([i]): b"v" for i in range(20)})
    proof = smt.get_proof(tree.nodes.get, b"\x05")
    assert verify_proof(tree.root, b"\x05", b"v", proof)
    assert not verify_proof(tree.root, b"\x05", b"v", proof[:-1])
    assert not verify_proof(tree.root, b"\x05", b"v", proof + bytes(32))


def test_empty_tree_proves_absence_with_a_three_byte_proof() -> None:
    empty: dict[bytes, bytes] = {}
    proof = smt.get_proof(empty.get, b"anything")
    assert proof == b"\x00\x00\x00"
    assert verify_proof(ZERO, b"anything", None, proof)
    assert not verify_proof(ZERO, b"anything", b"", proof)
