"""The app hash: a compact binary sparse Merkle tree over the whole key/value state.

Construction (changing anything here changes every app hash and breaks consensus):

* Each state entry `key -> value` is a leaf on the 256-bit path `sha256(key)`, read
  most significant bit first (bit 0 chooses the root's left or right child).
* Hashes, all sha256:
    - leaf     = sha256(0x00 || sha256(key) || sha256(value))
    - internal = sha256(0x01 || left_child_hash || right_child_hash)
    - empty subtree = 32 zero bytes; the root of an empty state is 32 zero bytes.
* Compaction: a subtree holding exactly one leaf is that leaf, placed at the
  shallowest depth where it is alone. So an internal node never has the children
  (empty, leaf) or (leaf, empty): such a node collapses into the leaf. An internal
  node with (empty, internal) children does exist (two keys sharing a long prefix).
  The tree shape is a function of the key set alone, so the root depends only on
  the set of key/value pairs: replaying blocks, splitting changes differently across
  blocks, or exporting and importing the state all give the same app hash.
* Storage: nodes are stored by position, not by hash, so the database holds only the
  current tree and a delete removes its nodes. Node key =
  `b"\\x01n" + depth (uint16 BE) + prefix (32 bytes, bits past depth zeroed)`.
  Node value = `0x00 || key_hash || value_hash` for a leaf and
  `0x01 || left_hash || right_hash` for an internal node, so a node's hash is just
  sha256 of its stored value.
* Proof (see proof.py for the byte layout and the standalone verifier): the sibling
  hashes from the root down to where the key's path ends, which is the key's own
  leaf (membership), an empty subtree, or a different leaf whose hash shares the
  path so far (non-membership).
* Cost: a batch of k changed keys (sets or deletes) over n keys reads, hashes and
  writes O(k log n) nodes (about log2 n + 2 levels per key, fewer near the root where
  paths are shared). A full rebuild from n items is O(n log n) for the sort and O(n)
  hashes. The batch is computed without touching the database; the caller gets the
  new root plus the node writes and deletes to apply in its commit batch.
"""

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable

from abci_app.store.proof import encode_proof

NODE_PREFIX = b"\x01n"
EMPTY_HASH = bytes(32)
LEAF_TAG = 0x00
INTERNAL_TAG = 0x01
TREE_DEPTH = 256

# Reads a node value by node key from the committed tree (None when absent).
NodeReader = Callable[[bytes], bytes | None]
# Node writes (value) and deletes (None) by node key, to apply in one batch.
NodeOps = dict[bytes, bytes | None]
# A subtree after an update: None (empty), or (kind, data):
#   _LEAF: data = leaf node value, not yet placed at any position (the caller places it)
#   _INNER: data = node hash; the node is already placed (written or unchanged) here
#   _UNREAD: data = node hash of an untouched child whose kind we have not read
_LEAF, _INNER, _UNREAD = 0, 1, 2
_Subtree = tuple[int, bytes] | None
# One internal node on a descended path: (node key, depth, prefix, sibling hash, went right).
_PathStep = tuple[bytes, int, int, bytes, bool]

_sha256 = hashlib.sha256


class TreeCorruptionError(Exception):
    """A node that the tree structure says exists is missing from the database."""


# NODE_PREFIX + depth, precomputed: node keys are built for every node an update touches.
_DEPTH_HEADS = [NODE_PREFIX + depth.to_bytes(2, "big") for depth in range(TREE_DEPTH + 1)]


def compute_node_key(depth: int, prefix: int) -> bytes:
    """Position key of the node at `depth` whose path starts with `prefix`'s bits."""
    return _DEPTH_HEADS[depth] + prefix.to_bytes(32, "big")


def compute_leaf_node(key_hash: bytes, value_hash: bytes) -> bytes:
    return bytes((LEAF_TAG,)) + key_hash + value_hash


def compute_node_hash(node: bytes) -> bytes:
    """Leaf and internal hashes are both sha256 of the stored node value."""
    return _sha256(node).digest()


def compute_key_hash(key: bytes) -> bytes:
    return _sha256(key).digest()


def _bit(depth: int) -> int:
    """The prefix bit that separates the two children of a node at `depth`."""
    return 1 << (TREE_DEPTH - 1 - depth)


_BITS = [_bit(depth) for depth in range(TREE_DEPTH)]


class _TreeBatch:
    """Node reads and pending node writes of one batch update or rebuild."""

    def __init__(self, read_node: NodeReader) -> None:
        self.read_node = read_node
        self.ops: NodeOps = {}
        self.old: dict[bytes, bytes] = {}

    def read(self, key: bytes) -> bytes:
        node = self.read_node(key)
        if node is None:
            raise TreeCorruptionError(f"missing tree node {key.hex()}")
        self.old[key] = node
        return node

    def final_ops(self) -> NodeOps:
        """Drop writes that would store what the position already holds."""
        return {k: v for k, v in self.ops.items() if self.old.get(k) != v}

    def build(self, depth: int, prefix: int, khs: list[bytes], vhs: list[bytes],
              lo: int, hi: int) -> _Subtree:
        """Subtree over sorted items [lo, hi), all sharing `prefix` up to `depth`."""
        if hi - lo == 0:
            return None
        if hi - lo == 1:
            return (_LEAF, compute_leaf_node(khs[lo], vhs[lo]))
        right_prefix = prefix | _bit(depth)
        mid = bisect_left(khs, right_prefix.to_bytes(32, "big"), lo, hi)
        left = self.build(depth + 1, prefix, khs, vhs, lo, mid)
        right = self.build(depth + 1, right_prefix, khs, vhs, mid, hi)
        return self.join(depth, prefix, left, right)

    def join(self, depth: int, prefix: int, left: _Subtree, right: _Subtree) -> _Subtree:
        """Place a node at (depth, prefix) over two subtrees, collapsing a lone leaf."""
        right_prefix = prefix | _bit(depth)
        if left is None and right is None:
            return None
        if left is None:
            right = self.resolve(depth + 1, right_prefix, right)
            if right is not None and right[0] == _LEAF:
                return right
        elif right is None:
            left = self.resolve(depth + 1, prefix, left)
            if left is not None and left[0] == _LEAF:
                return left
        node = b"\x01" + self.place(depth + 1, prefix, left) \
            + self.place(depth + 1, right_prefix, right)
        self.ops[compute_node_key(depth, prefix)] = node
        return (_INNER, compute_node_hash(node))

    def resolve(self, depth: int, prefix: int, sub: _Subtree) -> _Subtree:
        """Read an untouched child to learn whether it is a leaf that may move up."""
        if sub is None or sub[0] != _UNREAD:
            return sub
        key = compute_node_key(depth, prefix)
        node = self.read(key)
        if node[0] == LEAF_TAG:
            self.ops[key] = None  # it moves up; the caller re-places it
            return (_LEAF, node)
        return (_INNER, sub[1])

    def place(self, depth: int, prefix: int, sub: _Subtree) -> bytes:
        """Store a child at its position if it is a loose leaf; return its hash."""
        if sub is None:
            return EMPTY_HASH
        if sub[0] == _LEAF:
            self.ops[compute_node_key(depth, prefix)] = sub[1]
            return compute_node_hash(sub[1])
        return sub[1]


class _TreeUpdate(_TreeBatch):
    """A batch of changes, sorted by key hash, applied to the committed tree."""

    def __init__(self, read_node: NodeReader, changes: list[tuple[bytes, bytes | None]]) -> None:
        super().__init__(read_node)
        self.khs = [kh for kh, _ in changes]
        self.vhs = [vh for _, vh in changes]

    def update(self, depth: int, prefix: int, old: bytes | None, lo: int, hi: int) -> _Subtree:
        """New subtree at (depth, prefix) after changes [lo, hi); `old` is stored here."""
        if hi - lo == 1 and old is not None and old[0] == INTERNAL_TAG:
            return self.update_one(depth, prefix, old, lo)
        if old is None or old[0] == LEAF_TAG:
            result = self.rebuild(depth, prefix, old, lo, hi)
        else:
            right_prefix = prefix | _bit(depth)
            mid = bisect_left(self.khs, right_prefix.to_bytes(32, "big"), lo, hi)
            left = self.update_child(depth + 1, prefix, old[1:33], lo, mid)
            right = self.update_child(depth + 1, right_prefix, old[33:65], mid, hi)
            result = self.join(depth, prefix, left, right)
        if old is not None and (result is None or result[0] != _INNER):
            self.ops[compute_node_key(depth, prefix)] = None
        return result

    def update_one(self, depth: int, prefix: int, old: bytes, at: int) -> _Subtree:
        """`update` for the one change `at` below internal node `old`: the same steps,
        as a loop down the change's path and back up, since most nodes are on such paths."""
        stack, depth, prefix, node = self.descend(depth, prefix, old, self.khs[at])
        result = self.rebuild(depth, prefix, node, at, at + 1)
        if node is not None and (result is None or result[0] != _INNER):
            self.ops[compute_node_key(depth, prefix)] = None
        return self.ascend(stack, result)

    def descend(self, depth: int, prefix: int, node: bytes | None,
                key_hash: bytes) -> tuple[list[_PathStep], int, int, bytes | None]:
        """Follow `key_hash` from internal `node` at (depth, prefix) to where it ends."""
        path = int.from_bytes(key_hash, "big")
        stack: list[_PathStep] = []
        node_key = compute_node_key(depth, prefix)
        read = self.read
        while node is not None and node[0] == INTERNAL_TAG:
            bit = _BITS[depth]
            if path & bit:
                stack.append((node_key, depth, prefix, node[1:33], True))
                child, prefix = node[33:65], prefix | bit
            else:
                stack.append((node_key, depth, prefix, node[33:65], False))
                child = node[1:33]
            depth += 1
            if child == EMPTY_HASH:
                node = None
            else:
                node_key = _DEPTH_HEADS[depth] + prefix.to_bytes(32, "big")
                node = read(node_key)
        return stack, depth, prefix, node

    def ascend(self, stack: list[_PathStep], result: _Subtree) -> _Subtree:
        """Rewrite the nodes of a descended path bottom-up over the new `result`."""
        ops = self.ops
        while stack:
            node_key, depth, prefix, sibling, went_right = stack.pop()
            if sibling != EMPTY_HASH and result is not None:
                # Neither side empty: no collapse, so the node is simply rewritten.
                if result[0] == _LEAF:
                    child_prefix = prefix | _BITS[depth] if went_right else prefix
                    ops[compute_node_key(depth + 1, child_prefix)] = result[1]
                    child = _sha256(result[1]).digest()
                else:
                    child = result[1]
                node = b"\x01" + sibling + child if went_right else b"\x01" + child + sibling
                ops[node_key] = node
                result = (_INNER, _sha256(node).digest())
                continue
            other = None if sibling == EMPTY_HASH else (_UNREAD, sibling)
            result = self.join(depth, prefix, *((other, result) if went_right else (result, other)))
            if result is None or result[0] != _INNER:
                ops[node_key] = None
        return result

    def update_child(self, depth: int, prefix: int, child_hash: bytes,
                     lo: int, hi: int) -> _Subtree:
        if lo == hi:
            return None if child_hash == EMPTY_HASH else (_UNREAD, child_hash)
        if child_hash == EMPTY_HASH:
            return self.update(depth, prefix, None, lo, hi)
        return self.update(depth, prefix, self.read(compute_node_key(depth, prefix)), lo, hi)

    def rebuild(self, depth: int, prefix: int, old_leaf: bytes | None,
                lo: int, hi: int) -> _Subtree:
        """Below here there was at most one leaf: rebuild from it plus the changes."""
        items = [(kh, vh) for kh, vh in zip(self.khs[lo:hi], self.vhs[lo:hi], strict=True)
                 if vh is not None]
        if old_leaf is not None:
            old_kh = old_leaf[1:33]
            at = bisect_left(self.khs, old_kh, lo, hi)
            if at == hi or self.khs[at] != old_kh:  # the old leaf is not being changed
                items.append((old_kh, old_leaf[33:65]))
                items.sort()
        khs = [kh for kh, _ in items]
        vhs = [vh for _, vh in items]
        return self.build(depth, prefix, khs, vhs, 0, len(items))


def _root_of(batch: _TreeBatch, sub: _Subtree) -> bytes:
    """Root hash of the finished tree, placing a lone leaf at the root position."""
    return batch.place(0, 0, sub)


def compute_update(read_node: NodeReader,
                   changes: Iterable[tuple[bytes, bytes | None]]) -> tuple[bytes, NodeOps]:
    """New root and node ops after applying changes to the committed tree.

    `changes` are (key_hash, value_hash) pairs, value_hash None for a delete, with
    distinct key hashes. Reads only; nothing is written.
    """
    ordered = sorted(changes)
    root_key = compute_node_key(0, 0)
    old = read_node(root_key)
    if not ordered:
        return (EMPTY_HASH if old is None else compute_node_hash(old)), {}
    batch = _TreeUpdate(read_node, ordered)
    if old is not None:
        batch.old[root_key] = old
    root = _root_of(batch, batch.update(0, 0, old, 0, len(ordered)))
    return root, batch.final_ops()


def compute_root_from_hashes(sorted_hashes: list[tuple[bytes, bytes]]) -> tuple[bytes, NodeOps]:
    """Root and all node writes of a fresh tree over (key_hash, value_hash) sorted pairs."""
    batch = _TreeBatch(lambda key: None)
    khs = [kh for kh, _ in sorted_hashes]
    vhs = [vh for _, vh in sorted_hashes]
    root = _root_of(batch, batch.build(0, 0, khs, vhs, 0, len(khs)))
    return root, batch.final_ops()


def compute_root_from_items(items: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, NodeOps]:
    """Root and node writes of a fresh tree over key/value pairs, in any order.

    O(n log n): hash each pair, sort by key hash, build bottom-up by bisection.
    """
    hashed = sorted((_sha256(k).digest(), _sha256(v).digest()) for k, v in items)
    return compute_root_from_hashes(hashed)


def get_root(read_node: NodeReader) -> bytes:
    node = read_node(compute_node_key(0, 0))
    return EMPTY_HASH if node is None else compute_node_hash(node)


def get_proof(read_node: NodeReader, key: bytes) -> bytes:
    """Encoded proof for `key` (membership or non-membership) against the stored root."""
    path = int.from_bytes(compute_key_hash(key), "big")
    siblings: list[bytes] = []
    depth, prefix = 0, 0
    node = read_node(compute_node_key(0, 0))
    while node is not None and node[0] == INTERNAL_TAG:
        bit = _bit(depth)
        if path & bit:
            siblings.append(node[1:33])
            child, prefix = node[33:65], prefix | bit
        else:
            siblings.append(node[33:65])
            child = node[1:33]
        depth += 1
        if child == EMPTY_HASH:
            node = None
        else:
            node = read_node(compute_node_key(depth, prefix))
            if node is None:
                raise TreeCorruptionError(f"missing tree node at depth {depth}")
    leaf = None if node is None else (node[1:33], node[33:65])
    return encode_proof(leaf, siblings)
