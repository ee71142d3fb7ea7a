"""The L1 events the chain mirrors, in one table that every layer reads.

Each of the eight kinds names the Locking contract's event, the `L1Event`
oneof field that carries it (proto/seqset/v1/events.proto), and its
non-indexed ABI fields in order, each with the proto field it fills. Every
event also has the two indexed uint64 topics of `INDEXED_FIELDS`: eventNonce
becomes `L1Event.nonce` and sequencerId the message's `sequencer_id`.

A field's ABI type is also its shape in the proto message:
  address -> 20 raw bytes; bytes32 -> 32 raw bytes (an ed25519 consensus
  key, or a settlement batch's digest); uint256 -> a canonical decimal (wei,
  or a batch nonce: no sign, no leading zeros).

Readers: l1/decode.py (topic0 and the data layout), l1/contract.py (the event
ABI), relay/event_checks.py (shape checks) and chain/l1events.py (a handler per
kind). The module is plain data with no imports from the project, so chain/
can read it without web3 or grpc. tests/unit/test_protocol_constants.py ties
it to contracts/build/Locking.abi and to the generated protobuf classes.
"""

from dataclasses import dataclass

ADDRESS = "address"
BYTES32 = "bytes32"
UINT256 = "uint256"

ADDRESS_BYTES = 20
HASH_BYTES = 32  # block and transaction hashes, and every log topic
BYTES32_BYTES = 32  # an ABI bytes32 field: a consensus key or a batch digest
CONSENSUS_KEY_BYTES = BYTES32_BYTES  # an ed25519 public key
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1

# The indexed topics 1 and 2 of every event, as (ABI name, ABI type).
INDEXED_FIELDS: tuple[tuple[str, str], ...] = (("eventNonce", "uint64"), ("sequencerId", "uint64"))

# The first bytes of the transaction that carries attested L1 events into a
# block. The relay builds it; the chain refuses any user tx that starts so.
# A zero byte cannot begin a valid SignedTx encoding.
ATTESTED_TX_PREFIX = b"\x00seqset-attest"


@dataclass(frozen=True, slots=True)
class DataField:
    """One non-indexed field of an event: its ABI name and type, and its proto field."""

    abi_name: str
    abi_type: str  # ADDRESS, BYTES32 or UINT256
    proto_field: str


@dataclass(frozen=True, slots=True)
class EventKind:
    name: str  # the contract's event name
    oneof: str  # the L1Event.kind field that carries it
    data: tuple[DataField, ...]  # in ABI order

    @property
    def abi_types(self) -> tuple[str, ...]:
        return tuple(field.abi_type for field in self.data)

    @property
    def signature(self) -> str:
        """The canonical signature whose keccak is the event's topic0."""
        types = [abi_type for _, abi_type in INDEXED_FIELDS] + list(self.abi_types)
        return f"{self.name}({','.join(types)})"


# In the contract's order; l1/decode.py asks L1 for exactly these.
EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind("Locked", "locked", (
        DataField("owner", ADDRESS, "owner"),
        DataField("signer", ADDRESS, "signer"),
        DataField("consensusKey", BYTES32, "consensus_pubkey"),
        DataField("amount", UINT256, "amount_wei"),
    )),
    EventKind("LockIncreased", "lock_increased", (
        DataField("amount", UINT256, "amount_wei"),
        DataField("newTotal", UINT256, "new_total_wei"),
    )),
    EventKind("SignerChanged", "signer_changed", (
        DataField("oldSigner", ADDRESS, "old_signer"),
        DataField("newSigner", ADDRESS, "new_signer"),
    )),
    EventKind("WithdrawalRequested", "withdrawal_requested", (
        DataField("amount", UINT256, "amount_wei"),
        DataField("remaining", UINT256, "remaining_wei"),
    )),
    EventKind("UnlockInitiated", "unlock_initiated", (
        DataField("amount", UINT256, "amount_wei"),
    )),
    EventKind("Released", "released", (
        DataField("to", ADDRESS, "to"),
        DataField("amount", UINT256, "amount_wei"),
    )),
    EventKind("RewardsClaimed", "rewards_claimed", (
        DataField("to", ADDRESS, "to"),
        DataField("amount", UINT256, "amount_wei"),
    )),
    # sequencerId is 0: the contract settled a batch the chain signed.
    EventKind("BatchSettled", "batch_settled", (
        DataField("batchNonce", UINT256, "batch_nonce"),
        DataField("digest", BYTES32, "digest"),
    )),
)  # fmt: skip

KIND_BY_NAME: dict[str, EventKind] = {kind.name: kind for kind in EVENT_KINDS}
KIND_BY_ONEOF: dict[str, EventKind] = {kind.oneof: kind for kind in EVENT_KINDS}
