"""Plain values that cross the boundary between the ABCI layer and the state machine."""

from dataclasses import dataclass, field

from abci_app import pb
from abci_app.errors import CODESPACE


@dataclass(frozen=True)
class Event:
    """Becomes an ABCI Event; attributes keep their order."""

    type: str
    attributes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class VoteInfo:
    """One vote of decided_last_commit. present means any flag but ABSENT: a nil
    precommit comes from an online validator, so it is no downtime (cosmos-sdk x/slashing)."""

    address: bytes
    power: int
    present: bool


@dataclass(frozen=True)
class Misbehavior:
    """Evidence from CometBFT: kind is "duplicate_vote" or "light_client_attack"."""

    kind: str
    address: bytes
    height: int
    time_ns: int
    total_voting_power: int


@dataclass(frozen=True)
class BlockInput:
    height: int
    time_ns: int  # block header time, unix nanoseconds
    chain_id: str
    proposer_address: bytes
    last_app_hash: bytes
    decided_last_commit: list[VoteInfo]
    misbehavior: list[Misbehavior]
    l1_events: list[pb.events.L1Event]
    txs: list[bytes]
    # Attested by the relay (> 2/3 of the power); the chain still checks linking.
    l2_headers: list[pb.l2.L2Header] = field(default_factory=list)
    seed_randomness: pb.l2.L1Randomness | None = None
    l1_confirmed_height: int = 0  # 0: none attested in this block
    # (signer address 20 B, signature 65 B) over the in-flight batch's digest, each
    # verified by the relay against the stored signer of a validator in the set.
    settlement_signatures: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class TxOutcome:
    """code 0 is success; any other code is one of abci_app.errors.ERROR_CODES."""

    code: int
    log: str
    codespace: str = CODESPACE
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class ValidatorUpdate:
    pub_key: bytes  # 32-byte ed25519
    power: int


@dataclass(frozen=True)
class BlockOutcome:
    tx_results: list[TxOutcome]
    validator_updates: list[ValidatorUpdate]
    events: list[Event]
    l1_results: list[TxOutcome]


@dataclass(frozen=True)
class QueryResult:
    """value is the protobuf bytes of a query.proto response; key is the state key
    to prove when the answer is exactly one stored record, else b""."""

    code: int
    key: bytes
    value: bytes
    log: str
