"""Facts that must agree across layers: each has one home, and each pair is tied here.

- the L1 event table against the compiled contract ABI and the proto oneof;
- the attested-tx prefix the relay writes and the chain reserves;
- the one uvarint encoder against protobuf's own;
- the relay limits: one set of defaults, one validation, one overhead that fits a vote;
- byte sizes and amount rules that more than one layer checks.
"""

import ast
import json
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal.encoder import _VarintBytes  # protobuf's own encoder
from hypothesis import given
from hypothesis import strategies as st

from abci_app import chain, pb
from abci_app.chain.params import (
    RELAY_VOTE_OVERHEAD_BYTES,
    Params,
    compute_params_from_json,
)
from abci_app.chain.state import UINT256_MAX as CHAIN_UINT256_MAX
from abci_app.chain.state import parse_wei
from abci_app.errors import AppError, ParamsError
from abci_app.l1 import contract, decode, source
from abci_app.l1events_schema import (
    ADDRESS,
    ADDRESS_BYTES,
    ATTESTED_TX_PREFIX,
    BYTES32,
    CONSENSUS_KEY_BYTES,
    EVENT_KINDS,
    HASH_BYTES,
    INDEXED_FIELDS,
    KIND_BY_NAME,
    UINT256,
    UINT256_MAX,
)
from abci_app.relay import attested_tx, signbytes
from abci_app.relay.codec import AttestedEventsTx, encode_message
from abci_app.relay.event_checks import is_canonical_wei
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import ExtendedCommitInfo
from abci_app.server.framing import decode_uvarint, encode_uvarint

ROOT = Path(__file__).resolve().parents[2]
LOCKING_ABI = ROOT / "contracts" / "build" / "Locking.abi"
PROTO_TYPE_BY_ABI_TYPE = {
    ADDRESS: FieldDescriptor.TYPE_BYTES,
    BYTES32: FieldDescriptor.TYPE_BYTES,
    UINT256: FieldDescriptor.TYPE_STRING,
}


# --- one home per fact --------------------------------------------------------------


def _module_level_definitions() -> Counter[str]:
    """How often each name is assigned or defined at module level in abci_app (not _gen)."""
    counts: Counter[str] = Counter()
    for path in sorted((ROOT / "abci_app").rglob("*.py")):
        if "_gen" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                counts.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.FunctionDef):
                counts[node.name] += 1
    return counts


@pytest.mark.parametrize(("name", "homes"), [
    ("NS_PER_S", 1),
    ("ATTESTED_TX_PREFIX", 1),
    ("RESERVED_PREFIX", 0),  # chain/txs.py imports ATTESTED_TX_PREFIX under this name
    ("RELAY_VOTE_OVERHEAD_BYTES", 1),
    ("VOTE_OVERHEAD_BYTES", 0),
    ("COMETBFT_MAX_BLOCK_BYTES", 1),
    ("COMETBFT_MAX_VOTE_EXTENSION_BYTES", 1),
    ("encode_uvarint", 1),
    ("compute_uvarint", 0),
    ("EVENT_KINDS", 1),
    ("UINT64_MAX", 1),
])
def test_each_fact_is_defined_once(name: str, homes: int) -> None:
    assert _module_level_definitions()[name] == homes


# --- the L1 event table ----------------------------------------------------------------


@pytest.mark.skipif(not LOCKING_ABI.exists(), reason="contracts not compiled")
def test_event_table_matches_the_compiled_abi() -> None:
    abi = json.loads(LOCKING_ABI.read_text())
    compiled = {
        entry["name"]: [(i["name"], i["type"], i["indexed"]) for i in entry["inputs"]]
        for entry in abi if entry["type"] == "event"
    }
    # Every contract event that carries an eventNonce is in the table, and only those.
    nonced = {name for name, inputs in compiled.items() if inputs and inputs[0][0] == "eventNonce"}
    assert nonced == set(KIND_BY_NAME)
    for kind in EVENT_KINDS:
        expected = [(name, abi_type, True) for name, abi_type in INDEXED_FIELDS]
        expected += [(field.abi_name, field.abi_type, False) for field in kind.data]
        assert compiled[kind.name] == expected, kind.name


def test_event_table_matches_the_proto_oneof() -> None:
    descriptor = pb.events.L1Event.DESCRIPTOR
    oneof = [field.name for field in descriptor.oneofs_by_name["kind"].fields]
    assert oneof == [kind.oneof for kind in EVENT_KINDS]
    for kind in EVENT_KINDS:
        message = descriptor.fields_by_name[kind.oneof].message_type
        fields = {field.name: field.type for field in message.fields}
        expected = {"sequencer_id": FieldDescriptor.TYPE_UINT64}
        expected |= {f.proto_field: PROTO_TYPE_BY_ABI_TYPE[f.abi_type] for f in kind.data}
        assert fields == expected, kind.oneof


def test_contract_bindings_and_decoder_read_the_same_table() -> None:
    assert contract.EVENT_SIGNATURES == decode.EVENT_SIGNATURES
    assert contract.EVENT_NAMES == tuple(kind.name for kind in EVENT_KINDS)
    assert sorted(contract.EVENT_TOPICS) == sorted("0x" + t.hex() for t in decode.EVENT_TOPICS0)


def test_byte_sizes_agree_across_layers() -> None:
    assert (source.HASH_BYTES, source.ADDRESS_BYTES) == (HASH_BYTES, ADDRESS_BYTES)
    # The consensus key a Locked event carries is the key that signs vote extensions.
    assert signbytes.ED25519_PUBKEY_BYTES == CONSENSUS_KEY_BYTES
    assert CHAIN_UINT256_MAX == UINT256_MAX


def _chain_accepts_wei(text: str) -> bool:
    try:
        parse_wei(text)
    except AppError:
        return False
    return True


@given(st.one_of(st.text(max_size=80), st.integers(min_value=0, max_value=2**257).map(str),
                 st.from_regex(r"[0-9]{1,80}", fullmatch=True)))
def test_relay_and_chain_accept_the_same_wei_amounts(text: str) -> None:
    assert is_canonical_wei(text) == _chain_accepts_wei(text)


# --- the attested-tx prefix -------------------------------------------------------------


def test_reserved_prefix_is_the_attested_tx_prefix() -> None:
    assert chain.RESERVED_PREFIX is ATTESTED_TX_PREFIX
    assert attested_tx.ATTESTED_TX_PREFIX is ATTESTED_TX_PREFIX


# --- uvarint ---------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_uvarint_is_protobufs_varint(value: int) -> None:
    encoded = encode_uvarint(value)
    assert encoded == _VarintBytes(value)
    assert decode_uvarint(encoded) == (value, len(encoded))


def test_sign_bytes_length_prefix_is_the_uvarint() -> None:
    sign_bytes = signbytes.compute_vote_extension_sign_bytes(b"x" * 200, 5, 0, "c")
    assert decode_uvarint(sign_bytes) == (len(sign_bytes) - 2, 2)


# --- relay limits --------------------------------------------------------------------


def test_relay_defaults_are_the_genesis_defaults() -> None:
    relay, params = RelayParams(), Params()
    assert (relay.max_events_per_extension, relay.max_extension_bytes,
            relay.max_attested_tx_bytes) == (params.max_events_per_extension,
                                             params.max_extension_bytes,
                                             params.max_attested_tx_bytes)


def _genesis_accepts(**limits: int) -> bool:
    try:
        compute_params_from_json(limits)
    except ParamsError:
        return False
    return True


def _relay_accepts(**limits: int) -> bool:
    try:
        RelayParams(**limits)
    except ParamsError:
        return False
    return True


@pytest.mark.parametrize("limits", [
    {"max_extension_bytes": 1024, "max_attested_tx_bytes": 1024 + RELAY_VOTE_OVERHEAD_BYTES},
    {"max_extension_bytes": 1024, "max_attested_tx_bytes": 1023 + RELAY_VOTE_OVERHEAD_BYTES},
    {"max_extension_bytes": 255, "max_attested_tx_bytes": 4096},
    {"max_extension_bytes": 256, "max_attested_tx_bytes": 511},
    {"max_extension_bytes": 256, "max_attested_tx_bytes": 512},
    {"max_extension_bytes": 1 << 20, "max_attested_tx_bytes": 50 << 20},
    {"max_extension_bytes": (1 << 20) + 1, "max_attested_tx_bytes": 50 << 20},
    {"max_attested_tx_bytes": (50 << 20) + 1},
    {"max_events_per_extension": 0},
    {"max_events_per_extension": 10_001},
])
def test_relay_and_genesis_accept_the_same_limits(limits: dict[str, int]) -> None:
    assert _relay_accepts(**limits) == _genesis_accepts(**limits)


def test_vote_overhead_bound_covers_a_worst_case_vote() -> None:
    """One vote with a largest extension, in the tx envelope, fits in extension + overhead."""
    extension = b"\xff" * Params().max_extension_bytes
    for size in (len(extension), 1 << 20):
        vote = pb.abci.ExtendedVoteInfo(
            validator=pb.abci.Validator(address=b"\xff" * 20, power=2**63 - 1),
            vote_extension=b"\xff" * size, extension_signature=b"\xff" * 64,
            block_id_flag=pb.validator.BLOCK_ID_FLAG_NIL)
        commit = ExtendedCommitInfo(round=2**31 - 1, votes=[vote])
        tx = ATTESTED_TX_PREFIX + encode_message(
            AttestedEventsTx(extended_commit_info=encode_message(commit)))
        assert len(tx) - size <= RELAY_VOTE_OVERHEAD_BYTES
