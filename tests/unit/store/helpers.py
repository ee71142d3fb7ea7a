"""An independent, naive model of the app-hash tree, for checking the real one."""

import hashlib

from abci_app.store import proof, smt

ZERO = bytes(32)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _bit(key_hash: bytes, depth: int) -> int:
    return (int.from_bytes(key_hash, "big") >> (255 - depth)) & 1


def naive_root(items: dict[bytes, bytes]) -> bytes:
    """Full recomputation straight from the definition in smt.py's docstring."""
    def subtree(depth: int, leaves: list[tuple[bytes, bytes]]) -> bytes:
        if not leaves:
            return ZERO
        if len(leaves) == 1:
            return sha(b"\x00" + leaves[0][0] + leaves[0][1])
        left = [leaf for leaf in leaves if _bit(leaf[0], depth) == 0]
        right = [leaf for leaf in leaves if _bit(leaf[0], depth) == 1]
        return sha(b"\x01" + subtree(depth + 1, left) + subtree(depth + 1, right))

    return subtree(0, [(sha(k), sha(v)) for k, v in items.items()])


class DictTree:
    """Applies smt.compute_update results to a dict, as a commit would."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.root = ZERO

    def apply(self, changes: dict[bytes, bytes | None]) -> bytes:
        hashed = [(sha(k), None if v is None else sha(v)) for k, v in changes.items()]
        self.root, ops = smt.compute_update(self.nodes.get, hashed)
        for key, node in ops.items():
            if node is None:
                assert key in self.nodes, "the update deleted a node that does not exist"
                del self.nodes[key]
            else:
                self.nodes[key] = node
        return self.root


def naive_proof(items: dict[bytes, bytes], key: bytes) -> bytes:
    """Proof for `key` straight from the definition: siblings until the path is alone."""
    leaves = [(sha(k), sha(v)) for k, v in items.items()]
    path = sha(key)
    siblings: list[bytes] = []
    depth = 0
    while len(leaves) > 1:
        side = _bit(path, depth)
        other = [leaf for leaf in leaves if _bit(leaf[0], depth) != side]
        siblings.append(naive_root_of_hashes(depth + 1, other))
        leaves = [leaf for leaf in leaves if _bit(leaf[0], depth) == side]
        depth += 1
    return proof.encode_proof(leaves[0] if leaves else None, siblings)


def naive_root_of_hashes(depth: int, leaves: list[tuple[bytes, bytes]]) -> bytes:
    if not leaves:
        return ZERO
    if len(leaves) == 1:
        return sha(b"\x00" + leaves[0][0] + leaves[0][1])
    left = [leaf for leaf in leaves if _bit(leaf[0], depth) == 0]
    right = [leaf for leaf in leaves if _bit(leaf[0], depth) == 1]
    return sha(b"\x01" + naive_root_of_hashes(depth + 1, left)
               + naive_root_of_hashes(depth + 1, right))
