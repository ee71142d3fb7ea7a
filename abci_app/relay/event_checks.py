"""Shape checks on one L1Event, so malformed data never reaches a tally.

These check form only (lengths, canonical amounts, a known kind). Whether an
event makes sense for the state machine is the chain's business: a
well-formed but unusable event is still a fact once attested.
"""

import re

from abci_app import pb

HASH_BYTES = 32
ADDRESS_BYTES = 20
CONSENSUS_KEY_BYTES = 32
UINT256_MAX = (1 << 256) - 1
UINT64_MAX = (1 << 64) - 1

# ASCII digits only: str.isdigit() would accept other scripts' digits.
_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,77}")


def is_canonical_wei(text: str) -> bool:
    """A uint256 in canonical decimal: no sign, no leading zeros, no spaces."""
    return _CANONICAL_DECIMAL.fullmatch(text) is not None and int(text) <= UINT256_MAX


def _is_address(value: bytes) -> bool:
    return len(value) == ADDRESS_BYTES


def _is_kind_well_formed(event: pb.events.L1Event, kind: str) -> bool:
    # Each branch lists every bytes and amount field of its message.
    if kind == "locked":
        m = event.locked
        return (_is_address(m.owner) and _is_address(m.signer)
                and len(m.consensus_pubkey) == CONSENSUS_KEY_BYTES
                and is_canonical_wei(m.amount_wei))
    if kind == "lock_increased":
        li = event.lock_increased
        return is_canonical_wei(li.amount_wei) and is_canonical_wei(li.new_total_wei)
    if kind == "signer_changed":
        sc = event.signer_changed
        return _is_address(sc.old_signer) and _is_address(sc.new_signer)
    if kind == "withdrawal_requested":
        wr = event.withdrawal_requested
        return is_canonical_wei(wr.amount_wei) and is_canonical_wei(wr.remaining_wei)
    if kind == "unlock_initiated":
        return is_canonical_wei(event.unlock_initiated.amount_wei)
    if kind == "released":
        return _is_address(event.released.to) and is_canonical_wei(event.released.amount_wei)
    if kind == "rewards_claimed":
        rc = event.rewards_claimed
        return _is_address(rc.to) and is_canonical_wei(rc.amount_wei)
    return False


def is_well_formed_event(event: pb.events.L1Event) -> bool:
    """Nonce from 1, 32-byte hashes, a known kind whose fields have the right shape."""
    # Verify the position on L1
    if event.nonce < 1:
        return False
    if len(event.l1_block_hash) != HASH_BYTES or len(event.l1_tx_hash) != HASH_BYTES:
        return False
    # Verify the payload
    kind = event.WhichOneof("kind")
    return kind is not None and _is_kind_well_formed(event, kind)
