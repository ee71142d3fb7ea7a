"""An in-memory copy of the tree's top levels, kept equal to the committed nodes.

Every update reads its paths from the root down, and the top levels are shared by
all paths. Keeping depths 0..TOP_DEPTH in memory saves those reads: at 1M keys
that is the first 17 of about 22 reads on a changed key's path. The cost is bounded: at most
2**(TOP_DEPTH + 1) - 1 nodes, about 27 MB, reached from about 100k keys.

The first read loads the top levels in one scan per depth (nodes of one depth are
contiguous keys). The cache holds only what the database holds: it takes each
committed node op after the batch is written, so a failed write leaves it
equal to the database; a restore or wipe clears it. Like the store, it assumes
one thread at a time (the app's lock): a read racing a commit could keep a stale node.
"""

from collections.abc import Iterable

from abci_app.store import smt
from abci_app.store.backend import Reader, WriteOp

TOP_DEPTH = 16
# Node keys are NODE_PREFIX + depth (uint16 BE) + prefix: compare the depth bytes.
_DEPTH_AT = len(smt.NODE_PREFIX)


class TopNodeCache:
    """All committed nodes at depth <= top_depth, loaded in one scan on first use."""

    def __init__(self, committed: Reader, top_depth: int = TOP_DEPTH) -> None:
        self._committed = committed
        self._top_depth = top_depth
        self._max_depth = top_depth.to_bytes(2, "big")
        self._nodes: dict[bytes, bytes] | None = None  # None until loaded

    def is_top_node_key(self, node_key: bytes) -> bool:
        """Whether a tree node key (smt.compute_node_key) is at depth <= top_depth."""
        return node_key[_DEPTH_AT:_DEPTH_AT + 2] <= self._max_depth

    def read(self, node_key: bytes) -> bytes | None:
        """The committed node at `node_key` (None when absent)."""
        if node_key[_DEPTH_AT:_DEPTH_AT + 2] > self._max_depth:
            return self._committed.get(node_key)
        nodes = self._nodes
        if nodes is None:
            nodes = self._nodes = self._load()
        return nodes.get(node_key)

    def _load(self) -> dict[bytes, bytes]:
        # Nodes of one depth are contiguous in the key space: one prefix scan per depth.
        nodes: dict[bytes, bytes] = {}
        for depth in range(min(self._top_depth, smt.TREE_DEPTH) + 1):
            nodes.update(self._committed.iterate(smt.compute_node_key(depth, 0)[:_DEPTH_AT + 2]))
        return nodes

    def apply(self, ops: Iterable[WriteOp]) -> None:
        """Follow node writes and deletes that the database has just committed."""
        nodes = self._nodes
        if nodes is None:
            return  # not loaded: the load will read the committed nodes
        max_depth = self._max_depth
        for key, value in ops:
            if key[_DEPTH_AT:_DEPTH_AT + 2] <= max_depth:
                if value is None:
                    nodes.pop(key, None)
                else:
                    nodes[key] = value

    def clear(self) -> None:
        """Forget everything; the next read loads the top levels again."""
        self._nodes = None
