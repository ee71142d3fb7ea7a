"""The sparse Merkle tree behind the app hash."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.store import smt
from tests.unit.store.helpers import ZERO, DictTree, naive_root, sha

# Small key and value alphabets so that updates, overwrites and deletes collide often.
keys = st.binary(min_size=0, max_size=2)
values = st.binary(min_size=0, max_size=2)
states = st.dictionaries(keys, values, max_size=40)
change_sets = st.dictionaries(keys, st.none() | values, max_size=15)


GOLDEN_ITEMS = {b"alpha": b"1", b"beta": b"2", b"gamma": b"3", b"delta": b"", b"": b"empty key"}
# Changing this hash changes every app hash: it breaks consensus and must say so.
GOLDEN_ROOT = "e243950c84ef466e9f1e05bb47fa1ad821c9838d7b467b90e5c084a40f73a9dc"


def test_golden_root_of_a_fixed_key_set_is_pinned() -> None:
    root, _ = smt.compute_root_from_items(GOLDEN_ITEMS.items())
    assert root.hex() == GOLDEN_ROOT


def test_single_leaf_root_is_the_leaf_hash() -> None:
    root, ops = smt.compute_root_from_items([(b"a", b"b")])
    assert root == sha(b"\x00" + sha(b"a") + sha(b"b"))
    assert ops == {smt.compute_node_key(0, 0): b"\x00" + sha(b"a") + sha(b"b")}


def test_empty_tree_root_is_zero_and_stores_nothing() -> None:
    assert smt.compute_root_from_items([]) == (ZERO, {})
    empty: dict[bytes, bytes] = {}
    assert smt.compute_update(empty.get, []) == (ZERO, {})


def test_node_key_layout_is_pinned() -> None:
    key = smt.compute_node_key(3, 0b101 << 253)
    assert key == b"\x01n" + b"\x00\x03" + bytes([0b10100000]) + bytes(31)


@given(states)
def test_root_equals_naive_full_recomputation(items: dict[bytes, bytes]) -> None:
    root, _ = smt.compute_root_from_items(items.items())
    assert root == naive_root(items)


@given(st.lists(change_sets, max_size=8))
@settings(max_examples=200)
def test_batch_updates_match_naive_root_and_store_only_the_current_tree(
        blocks: list[dict[bytes, bytes | None]]) -> None:
    tree, model = DictTree(), dict[bytes, bytes]()
    for changes in blocks:
        root = tree.apply(changes)
        for key, value in changes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        assert root == naive_root(model)
        fresh_root, fresh_nodes = smt.compute_root_from_items(model.items())
        assert fresh_root == root
        assert tree.nodes == fresh_nodes, "stale or missing nodes after the update"


@given(states, st.randoms(use_true_random=False))
def test_root_is_independent_of_insertion_order_and_block_split(
        items: dict[bytes, bytes], rng: random.Random) -> None:
    pairs = list(items.items())
    rng.shuffle(pairs)
    tree = DictTree()
    at = 0
    while at < len(pairs):
        step = rng.randint(1, 5)
        tree.apply(dict(pairs[at: at + step]))
        at += step
    assert tree.root == smt.compute_root_from_items(items.items())[0]


@given(states, st.lists(keys, max_size=10, unique=True), values)
def test_deleting_added_keys_restores_the_earlier_root_and_nodes(
        items: dict[bytes, bytes], extra: list[bytes], value: bytes) -> None:
    tree = DictTree()
    before = tree.apply(dict(items))
    nodes_before = dict(tree.nodes)
    new_keys = [k for k in extra if k not in items]
    tree.apply({k: value for k in new_keys})
    restored = tree.apply(dict.fromkeys(new_keys))
    assert restored == before
    assert tree.nodes == nodes_before


def test_deleting_every_key_empties_the_tree() -> None:
    tree = DictTree()
    tree.apply({bytes([i]): b"v" for i in range(50)})
    assert tree.apply({bytes([i]): None for i in range(50)}) == ZERO
    assert tree.nodes == {}


def test_update_without_changes_reads_the_root_and_writes_nothing() -> None:
    tree = DictTree()
    root = tree.apply({b"a": b"1", b"b": b"2"})
    assert smt.compute_update(tree.nodes.get, []) == (root, {})
    assert smt.get_root(tree.nodes.get) == root


def test_rewriting_the_same_values_writes_no_nodes() -> None:
    tree = DictTree()
    root = tree.apply({bytes([i]): b"v" for i in range(30)})
    again, ops = smt.compute_update(
        tree.nodes.get, [(sha(bytes([i])), sha(b"v")) for i in range(0, 30, 3)])
    assert again == root
    assert ops == {}


def test_update_of_one_key_in_a_large_tree_touches_a_logarithmic_number_of_nodes() -> None:
    tree = DictTree()
    tree.apply({i.to_bytes(4, "big"): b"v" for i in range(4096)})
    reads: list[bytes] = []

    def counting_read(key: bytes) -> bytes | None:
        reads.append(key)
        return tree.nodes.get(key)

    _, ops = smt.compute_update(counting_read, [(sha(b"new key"), sha(b"v"))])
    # log2(4096) = 12 levels plus a short chain; far below the 8k nodes in the tree.
    assert len(reads) < 40
    assert len(ops) < 40
