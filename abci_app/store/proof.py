"""Merkle proofs against the app hash, with a standalone verifier.

`verify_proof` and the helpers it uses need only hashlib, so a light client can copy
this file as it is. The tree is described in smt.py.

Proof layout (fixed, big-endian):

    byte  0       terminal kind: 0x00 = the path ends in an empty subtree,
                                 0x01 = the path ends at a leaf
    bytes 1..2    depth n of the terminal (uint16), 0 <= n <= 256
    [leaf only]   32-byte key hash and 32-byte value hash of the terminal leaf
    then          n sibling hashes of 32 bytes, the sibling at depth 1 first (top-down)

A membership proof ends at the key's own leaf. A non-membership proof ends at an
empty subtree, or at a different leaf whose key hash shares the first n path bits.
"""

import hashlib

TERMINAL_EMPTY = 0x00
TERMINAL_LEAF = 0x01
_MAX_DEPTH = 256
_ZERO = bytes(32)


def encode_proof(leaf: tuple[bytes, bytes] | None, siblings: list[bytes]) -> bytes:
    """Proof bytes for a path ending at `leaf` (key hash, value hash) or at empty."""
    head = bytes((TERMINAL_EMPTY if leaf is None else TERMINAL_LEAF,))
    head += len(siblings).to_bytes(2, "big")
    if leaf is not None:
        head += leaf[0] + leaf[1]
    return head + b"".join(siblings)


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: bytes) -> bool:
    """True iff `proof` shows `key -> value` under `root` (value None: key absent).

    Never raises on malformed input; a malformed proof is simply False.
    """
    if not isinstance(proof, bytes | bytearray) or len(proof) < 3:
        return False
    kind, depth = proof[0], int.from_bytes(proof[1:3], "big")
    start = 3 + (64 if kind == TERMINAL_LEAF else 0)
    if kind not in (TERMINAL_EMPTY, TERMINAL_LEAF) or depth > _MAX_DEPTH \
            or len(proof) != start + 32 * depth:
        return False
    key_hash = hashlib.sha256(key).digest()
    path = int.from_bytes(key_hash, "big")
    if kind == TERMINAL_LEAF:
        leaf_kh, leaf_vh = bytes(proof[3:35]), bytes(proof[35:67])
        # Verify the leaf lies on the key's path down to the terminal depth.
        if int.from_bytes(leaf_kh, "big") >> (_MAX_DEPTH - depth) != path >> (_MAX_DEPTH - depth):
            return False
        if value is None:
            if leaf_kh == key_hash:
                return False
        elif leaf_kh != key_hash or leaf_vh != hashlib.sha256(value).digest():
            return False
        node = hashlib.sha256(b"\x00" + leaf_kh + leaf_vh).digest()
    else:
        if value is not None:
            return False
        node = _ZERO
    for d in range(depth - 1, -1, -1):
        sibling = bytes(proof[start + 32 * d: start + 32 * d + 32])
        if (path >> (_MAX_DEPTH - 1 - d)) & 1:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
    return node == root
