"""Shape and link checks on L2 headers and L1 randomness, so malformed data
never reaches a tally. Whether a header is the chain's next one (it links to
the stored head) is the tally's business: these need no state.
"""

from collections.abc import Sequence

from abci_app import pb
from abci_app.l1events_schema import ADDRESS_BYTES, HASH_BYTES, UINT64_MAX


def is_well_formed_header(header: pb.l2.L2Header) -> bool:
    """Height from 1, 32-byte hash and parent hash, a 20-byte producer (the coinbase)."""
    return (header.height >= 1 and len(header.hash) == HASH_BYTES
            and len(header.parent_hash) == HASH_BYTES and len(header.producer) == ADDRESS_BYTES)


def is_well_formed_randomness(randomness: pb.l2.L1Randomness) -> bool:
    return randomness.l1_height >= 1 and len(randomness.mix_hash) == HASH_BYTES


def is_linked_run(headers: Sequence[pb.l2.L2Header]) -> bool:
    """Well-formed, heights contiguous, each one's parent the previous one's hash."""
    if not headers:
        return True
    if not all(is_well_formed_header(header) for header in headers):
        return False
    first = int(headers[0].height)
    if first + len(headers) - 1 > UINT64_MAX:
        return False
    for index in range(1, len(headers)):
        if int(headers[index].height) != first + index:
            return False
        if bytes(headers[index].parent_hash) != bytes(headers[index - 1].hash):
            return False
    return True


def compute_linked_run(
    headers: Sequence[pb.l2.L2Header], head: tuple[int, bytes], limit: int
) -> list[pb.l2.L2Header]:
    """The longest run of `headers` after `head` = (height, hash), at most `limit` long.

    Sorted by height; headers at or below the head are skipped; stops at the
    first gap, malformed header or broken link.
    """
    height, parent = head
    chosen: list[pb.l2.L2Header] = []
    for header in sorted(headers, key=lambda h: int(h.height)):
        if int(header.height) <= height:
            continue
        if len(chosen) >= limit or int(header.height) != height + 1:
            break
        if not is_well_formed_header(header) or bytes(header.parent_hash) != parent:
            break
        chosen.append(header)
        height, parent = int(header.height), bytes(header.hash)
    return chosen
