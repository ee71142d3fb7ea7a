"""Shape checks on one L1Event, so malformed data never reaches a tally.

These check form only (lengths, canonical amounts, a known kind), field by
field as the table in abci_app/l1events_schema.py types them. Whether an
event makes sense for the state machine is the chain's business: a
well-formed but unusable event is still a fact once attested.
"""

import re
from collections.abc import Callable

from abci_app import pb
from abci_app.l1events_schema import (
    ADDRESS,
    ADDRESS_BYTES,
    BYTES32,
    BYTES32_BYTES,
    HASH_BYTES,
    KIND_BY_ONEOF,
    UINT256,
    UINT256_MAX,
)

# ASCII digits only: str.isdigit() would accept other scripts' digits.
_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,77}")


def is_canonical_wei(text: str) -> bool:
    """A uint256 in canonical decimal: no sign, no leading zeros, no spaces."""
    return _CANONICAL_DECIMAL.fullmatch(text) is not None and int(text) <= UINT256_MAX


def _is_address(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == ADDRESS_BYTES


def _is_bytes32(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == BYTES32_BYTES


def _is_wei(value: object) -> bool:
    return isinstance(value, str) and is_canonical_wei(value)


# The shape check for each ABI type the table uses.
IS_WELL_FORMED_BY_TYPE: dict[str, Callable[[object], bool]] = {
    ADDRESS: _is_address,
    BYTES32: _is_bytes32,
    UINT256: _is_wei,
}


def is_well_formed_event(event: pb.events.L1Event) -> bool:
    """Nonce from 1, 32-byte hashes, a known kind whose fields have the right shape."""
    # Verify the position on L1
    if event.nonce < 1:
        return False
    if len(event.l1_block_hash) != HASH_BYTES or len(event.l1_tx_hash) != HASH_BYTES:
        return False
    # Verify the payload: every data field of the kind, as the table types it
    kind = KIND_BY_ONEOF.get(str(event.WhichOneof("kind")))
    if kind is None:
        return False
    message = getattr(event, kind.oneof)
    return all(IS_WELL_FORMED_BY_TYPE[field.abi_type](getattr(message, field.proto_field))
               for field in kind.data)
