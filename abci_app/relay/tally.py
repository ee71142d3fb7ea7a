"""Counting attestations: what more than 2/3 of the power carried identically.

Votes for height H-1 reach the proposer of H in `local_last_commit`. Late
precommits never went through VerifyVoteExtension (cometbft #2361), so the
proposer re-checks every extension and clears the bad ones before counting.
Power always comes from our stored validator set for H-1, never from the
commit (cosmos-sdk #19550), and each validator counts once (#18893).

One keyed-window tally serves L1 events (keyed by nonce) and L2 headers (keyed
by height, with a link check): from the first key on, the item that > 2/3
carry byte for byte is accepted, stopping at the first key without one.
Settlement signatures are not tallied: each counts on its own once it
recovers to its validator's stored signer (settlement_checks.py).
"""

from collections.abc import Callable, Sequence
from typing import Any

from abci_app import pb
from abci_app.relay.codec import encode_message
from abci_app.relay.params import RelayParams
from abci_app.relay.settlement_checks import tally_settlement_signatures
from abci_app.relay.types import Attested, ExtensionData, RelayView
from abci_app.relay.votes import (
    BLOCK_ID_FLAG_COMMIT,
    EncodedExtension,
    VoteRow,
    clear_decode_cache,
    compute_valid_extensions,
    compute_vote_rows,
    encode_extension_cached,
    is_rows_matching_valset,
)
from abci_app.valset import ValidatorEntry

ExtendedCommitInfo = pb.abci.ExtendedCommitInfo

# (power, first key, the encoded items at first, first + 1, ...) of one extension.
Window = tuple[int, int, Sequence[bytes]]
# Whether an item may follow the previously accepted one (None: it is the first).
LinkCheck = Callable[[bytes | None, bytes], bool]


def compute_total_power(valset: Sequence[ValidatorEntry]) -> int:
    return sum(entry.power for entry in valset)


def is_supermajority(power: int, total_power: int) -> bool:
    """More than 2/3, in integers: exactly 2/3 is not enough (Gravity's 66% bug)."""
    return 3 * power > 2 * total_power


def is_commit_matching_valset(votes: Sequence[Any], valset: Sequence[ValidatorEntry]) -> bool:
    """Each validator of `valset` appears exactly once, with our power; nobody else appears."""
    return is_rows_matching_valset(compute_vote_rows(votes), valset)


def prune_extended_commit(
    commit: Any, valset: Sequence[ValidatorEntry], height_voted: int, chain_id: str,
    params: RelayParams,
) -> Any:
    """A copy of `commit` with every invalid extension and its signature cleared.

    Flags, addresses, powers and order are kept, so other nodes can compare the
    result field by field with the `proposed_last_commit` CometBFT gives them.
    """
    valid = compute_valid_extensions(compute_vote_rows(commit.votes), valset, height_voted,
                                     commit.round, chain_id, params)
    pruned = ExtendedCommitInfo(round=commit.round)
    for vote, is_valid in zip(commit.votes, valid, strict=True):
        kept = pruned.votes.add()
        kept.CopyFrom(vote)
        if not is_valid:
            kept.ClearField("vote_extension")
            kept.ClearField("extension_signature")
    return pruned


def compute_keyed_tally(
    windows: Sequence[Window], first_key: int, total_power: int, limit: int,
    links: LinkCheck | None = None,
) -> list[bytes]:
    """The items from `first_key` on that more than 2/3 carry, at most `limit`.

    Stops at the first key without a supermajority, or whose winner fails `links`.
    """
    accepted: list[bytes] = []
    key = first_key
    while len(accepted) < limit:
        # Insertion-ordered dict: deterministic, and at most one entry can pass 2/3.
        support: dict[bytes, int] = {}
        for power, first, items in windows:
            index = key - first
            if 0 <= index < len(items):
                support[items[index]] = support.get(items[index], 0) + power
        winner = next((item for item, power in support.items()
                       if is_supermajority(power, total_power)), None)
        if winner is None:
            break
        if links is not None and not links(accepted[-1] if accepted else None, winner):
            break
        accepted.append(winner)
        key += 1
    return accepted


def compute_l1_confirmed_height(reports: Sequence[tuple[int, int]], total_power: int) -> int:
    """The largest h such that holders of > 2/3 of the power report >= h (0 if none).

    `reports` are (height, power); a validator with no extension reports 0 and
    is simply left out (its power still counts in `total_power`).
    """
    running = 0
    for height, power in sorted(reports, key=lambda report: -report[0]):
        running += power
        if is_supermajority(running, total_power):
            return height
    return 0


def _collect_extensions(
    rows: Sequence[VoteRow], params: RelayParams
) -> list[tuple[bytes, bytes, EncodedExtension]]:
    """(validator address, extension bytes, content) for each commit vote with a
    well-formed, non-empty extension."""
    collected: list[tuple[bytes, bytes, EncodedExtension]] = []
    distinct: dict[bytes, EncodedExtension | None] = {}
    for row in rows:
        if row.block_id_flag != BLOCK_ID_FLAG_COMMIT or not row.extension:
            continue
        if row.extension not in distinct:
            distinct[row.extension] = encode_extension_cached(row.extension, params)
        encoded = distinct[row.extension]
        if encoded is not None:
            collected.append((row.address, row.extension, encoded))
    return collected


def _group_identical(
    collected: Sequence[tuple[bytes, bytes, EncodedExtension]], power_by_address: dict[bytes, int]
) -> list[tuple[int, EncodedExtension]]:
    """(summed power, content) per distinct extension, in first-seen order.

    Items are compared byte for byte, so byte-identical extensions support
    exactly the same items: counting them together changes no total.
    """
    power: dict[bytes, int] = {}
    content: dict[bytes, EncodedExtension] = {}
    for address, extension, encoded in collected:
        power[extension] = power.get(extension, 0) + power_by_address[address]
        content[extension] = encoded
    return [(power[extension], content[extension]) for extension in power]


def _make_header_link(head_hash: bytes) -> LinkCheck:
    def links(previous: bytes | None, item: bytes) -> bool:
        parent = head_hash if previous is None else bytes(pb.l2.L2Header.FromString(previous).hash)
        return bytes(pb.l2.L2Header.FromString(item).parent_hash) == parent
    return links


def _tally_randomness(
    extensions: Sequence[tuple[int, EncodedExtension]], seed_request: int, total_power: int
) -> pb.l2.L1Randomness | None:
    if seed_request <= 0:
        return None
    support: dict[bytes, int] = {}
    for power, encoded in extensions:
        seed = encoded.data.seed_randomness
        if seed is not None and encoded.seed is not None and int(seed.l1_height) == seed_request:
            support[encoded.seed] = support.get(encoded.seed, 0) + power
    winner = next((item for item, power in support.items()
                   if is_supermajority(power, total_power)), None)
    return None if winner is None else pb.l2.L1Randomness.FromString(winner)


def tally_attested(
    commit: Any, valset: Sequence[ValidatorEntry], view: RelayView, params: RelayParams,
    rows: Sequence[VoteRow] | None = None,
) -> Attested:
    """Everything more than 2/3 of `valset`'s power attest in `commit`, given `view`.

    Events from view.last_applied_nonce + 1; headers from the L2 head + 1, the
    first linking to the head's hash and each next to the previous (none when
    no L2 is registered); randomness for view.seed_request only; the L1 height
    only when above view.l1_confirmed_height; the settlement signatures that
    count for view.settlement (tally_settlement_signatures). Trusts the extension signatures:
    callers prune (proposer) or verify (everyone else) first. A commit whose
    validators or powers differ from `valset` attests nothing. `rows`, when
    given, are compute_vote_rows(commit.votes), already read by the caller.
    """
    if rows is None:
        rows = compute_vote_rows(commit.votes)
    total_power = compute_total_power(valset)
    if not is_rows_matching_valset(rows, valset) or total_power <= 0:
        return Attested()
    collected = _collect_extensions(rows, params)
    extensions = _group_identical(collected,
                                  {entry.address: entry.power for entry in valset})
    event_windows = [(power, int(encoded.data.events[0].nonce), encoded.events)
                     for power, encoded in extensions if encoded.events]
    events = compute_keyed_tally(event_windows, view.last_applied_nonce + 1, total_power,
                                 params.max_events_per_extension)
    headers: list[bytes] = []
    if view.l2_head is not None:
        header_windows = [(power, int(encoded.data.l2_headers[0].height), encoded.headers)
                          for power, encoded in extensions if encoded.headers]
        headers = compute_keyed_tally(header_windows, view.l2_head[0] + 1, total_power,
                                      params.max_l2_headers_per_extension,
                                      _make_header_link(view.l2_head[1]))
    height = compute_l1_confirmed_height(
        [(encoded.data.l1_confirmed_height, power) for power, encoded in extensions],
        total_power)
    by_address = [(address, encoded.data) for address, _, encoded in collected]
    return Attested(
        events=tuple(pb.events.L1Event.FromString(e) for e in events),
        l2_headers=tuple(pb.l2.L2Header.FromString(h) for h in headers),
        seed_randomness=_tally_randomness(extensions, view.seed_request, total_power),
        l1_confirmed_height=height if height > view.l1_confirmed_height else 0,
        settlement_signatures=tally_settlement_signatures(by_address, view.settlement),
    )


def tally_events(
    commit: Any, valset: Sequence[ValidatorEntry], last_applied_nonce: int,
    params: RelayParams,
) -> list[pb.events.L1Event]:
    """The events alone that tally_attested accepts after `last_applied_nonce`."""
    view = RelayView(last_applied_nonce=last_applied_nonce)
    return list(tally_attested(commit, valset, view, params).events)


# (part, key, encoded item): one thing an injected tx attests.
_Item = tuple[str, int, bytes]


def _compute_needed_items(attested: Attested) -> list[_Item]:
    """Each thing the injected tx attests; the L1 height needs reports of at least it."""
    needed = [("event", int(e.nonce), encode_message(e)) for e in attested.events]
    needed += [("header", int(h.height), encode_message(h)) for h in attested.l2_headers]
    if attested.seed_randomness is not None:
        seed = attested.seed_randomness
        needed.append(("seed", int(seed.l1_height), encode_message(seed)))
    if attested.l1_confirmed_height > 0:
        needed.append(("l1", attested.l1_confirmed_height, b""))
    return needed


def _compute_carried_signatures(data: ExtensionData | None) -> set[bytes]:
    if data is None or data.settlement_signature is None:
        return set()
    return {bytes(data.settlement_signature.signature)}


def _compute_carried_items(encoded: EncodedExtension | None, l1_height: int) -> set[_Item]:
    if encoded is None:
        return set()
    data = encoded.data
    carried = {("event", int(e.nonce), item) for e, item in zip(data.events, encoded.events,
                                                                  strict=True)}
    carried |= {("header", int(h.height), item)
                for h, item in zip(data.l2_headers, encoded.headers, strict=True)}
    if data.seed_randomness is not None and encoded.seed is not None:
        carried.add(("seed", int(data.seed_randomness.l1_height), encoded.seed))
    if l1_height > 0 and data.l1_confirmed_height >= l1_height:
        carried.add(("l1", l1_height, b""))
    return carried


def compute_supporting_commit(
    commit: Any, valset: Sequence[ValidatorEntry], attested: Attested, params: RelayParams,
) -> Any | None:
    """`commit` keeping only the extensions needed to attest `attested`, or None.

    With many validators the full extended commit may not fit in the injected
    tx. Votes are taken by (power desc, address asc); a vote is kept when it
    carries, byte for byte, an event, header or randomness (or reports at least
    the L1 height) whose kept support is not yet above 2/3; it stops once every
    item is. Every vote carrying a listed settlement signature is kept first
    (one carrier suffices, but only its own validator's counts). The other
    extensions are cleared, the form pruning leaves and verification counts
    as no vote. Callers re-tally the result: the L1 height
    is recomputed from the kept reports (it cannot fall below the one asked for).
    """
    needed = _compute_needed_items(attested)
    power = {entry.address: entry.power for entry in valset}
    total = compute_total_power(valset)
    signatures = {item.signature for item in attested.settlement_signatures}
    carried: dict[bytes, set[_Item]] = {}
    kept: set[bytes] = set()
    for vote in commit.votes:
        encoded = encode_extension_cached(bytes(vote.vote_extension), params)
        address = bytes(vote.validator.address)
        carried[address] = _compute_carried_items(encoded, attested.l1_confirmed_height)
        if _compute_carried_signatures(None if encoded is None else encoded.data) & signatures:
            kept.add(address)
    support = {item: sum(power.get(address, 0) for address in kept if item in carried[address])
               for item in needed}
    for address in sorted(set(carried) - kept, key=lambda a: (-power.get(a, 0), a)):
        missing = [item for item in needed if not is_supermajority(support[item], total)]
        if not missing:
            break
        if any(item in carried[address] for item in missing):
            kept.add(address)
            for item in needed:
                if item in carried[address]:
                    support[item] += power.get(address, 0)
    if not all(is_supermajority(support[item], total) for item in needed):
        return None
    smaller = ExtendedCommitInfo()
    smaller.CopyFrom(commit)
    for vote in smaller.votes:
        if bytes(vote.validator.address) not in kept:
            vote.ClearField("vote_extension")
            vote.ClearField("extension_signature")
    return smaller


__all__ = [
    "BLOCK_ID_FLAG_COMMIT",
    "ExtendedCommitInfo",
    "clear_decode_cache",
    "compute_keyed_tally",
    "compute_l1_confirmed_height",
    "compute_supporting_commit",
    "compute_total_power",
    "is_commit_matching_valset",
    "is_supermajority",
    "prune_extended_commit",
    "tally_attested",
    "tally_events",
]
