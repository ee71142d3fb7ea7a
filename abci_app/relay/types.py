"""The relay's typed values: what it reads from the chain, what an extension
carries, and what a block attests.

Protobuf messages inside are never mutated after construction; the dataclasses
are frozen so a value handed to the chain cannot change under it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from abci_app import pb


@dataclass(frozen=True, slots=True)
class SettlementView:
    """The in-flight settlement batch, as the relay needs it to count signatures.

    `signer_by_address` maps each validator of the set that voted to the stored
    signer of its sequencer; `collected_signers` already signed on the chain.
    """

    nonce: int
    digest: bytes
    signer_by_address: Mapping[bytes, bytes] = field(default_factory=dict)
    collected_signers: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class SignedSettlement:
    """One counted settlement signature: its recovered signer, the batch, 65 bytes."""

    signer: bytes
    batch_nonce: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class RelayView:
    """What the relay reads from committed state (abci_app.chain) for one height.

    `l2_head` is (height, hash) of the attested L2 head, None when no L2 is
    registered (then no header is asked for, carried or attested).
    `seed_request` is the L1 height whose randomness the chain waits for (0 = none).
    `settlement` is the in-flight batch (None: no signatures are counted).
    """

    last_applied_nonce: int = 0
    l2_head: tuple[int, bytes] | None = None
    seed_request: int = 0
    l1_confirmed_height: int = 0
    settlement: SettlementView | None = None


@dataclass(frozen=True, slots=True)
class ExtensionData:
    """One decoded, well-formed vote extension (decode_extension)."""

    events: tuple[pb.events.L1Event, ...] = ()
    l2_headers: tuple[pb.l2.L2Header, ...] = ()
    seed_randomness: pb.l2.L1Randomness | None = None
    l1_confirmed_height: int = 0
    settlement_signature: pb.relay.SettlementSignature | None = None


@dataclass(frozen=True, slots=True)
class Attested:
    """What a block attests: more than 2/3 of the stored power back each part.

    `l1_confirmed_height` is 0 unless it is above the chain's stored one.
    `settlement_signatures` are not attested by 2/3: each is one validator's own,
    checked against its stored signer, ascending by signer.
    """

    events: tuple[pb.events.L1Event, ...] = ()
    l2_headers: tuple[pb.l2.L2Header, ...] = ()
    seed_randomness: pb.l2.L1Randomness | None = None
    l1_confirmed_height: int = 0
    settlement_signatures: tuple[SignedSettlement, ...] = ()

    def is_empty(self) -> bool:
        return (not self.events and not self.l2_headers and self.seed_randomness is None
                and self.l1_confirmed_height == 0 and not self.settlement_signatures)

    def count_parts(self) -> int:
        """Items carried, to compare two candidate txs (more is better)."""
        return (len(self.events) + len(self.l2_headers) + len(self.settlement_signatures)
                + (self.seed_randomness is not None) + (self.l1_confirmed_height > 0))
