"""Counting attestations: which L1 events hold more than 2/3 of the power.

Votes for height H-1 reach the proposer of H in `local_last_commit`. Late
precommits never went through VerifyVoteExtension (cometbft #2361), so the
proposer re-checks every extension and clears the bad ones before counting.
Power always comes from our stored validator set for H-1, never from the
commit (cosmos-sdk #19550), and each validator counts once (#18893).
"""

from collections.abc import Sequence
from typing import Any

from abci_app import pb
from abci_app.relay.codec import encode_message
from abci_app.relay.extension import decode_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.signbytes import verify_extension_signature
from abci_app.valset import ValidatorEntry

BLOCK_ID_FLAG_COMMIT = pb.validator.BLOCK_ID_FLAG_COMMIT
ExtendedCommitInfo = pb.abci.ExtendedCommitInfo


def compute_total_power(valset: Sequence[ValidatorEntry]) -> int:
    return sum(entry.power for entry in valset)


def is_supermajority(power: int, total_power: int) -> bool:
    """More than 2/3, in integers: exactly 2/3 is not enough (Gravity's 66% bug)."""
    return 3 * power > 2 * total_power


def is_commit_matching_valset(votes: Sequence[Any], valset: Sequence[ValidatorEntry]) -> bool:
    """Each validator of `valset` appears exactly once, with our power; nobody else appears."""
    ours = {entry.address: entry.power for entry in valset}
    if len(votes) != len(valset) or len(ours) != len(valset):
        return False
    seen: set[bytes] = set()
    for vote in votes:
        address = bytes(vote.validator.address)
        if address in seen or ours.get(address) != int(vote.validator.power):
            return False
        seen.add(address)
    return True


def is_vote_extension_valid(
    vote: Any, pub_key: bytes | None, height_voted: int, round: int, chain_id: str,
    params: RelayParams,
) -> bool:
    """Whether one ExtendedVoteInfo's extension data may be counted or relayed.

    Non-commit votes carry no extension data (CometBFT's EnsureExtension). A
    commit vote with neither extension nor signature is the pruned form. Any
    other data must be signed by the validator over (height_voted, round) and
    decode as a well-formed extension.
    """
    extension = bytes(vote.vote_extension)
    signature = bytes(vote.extension_signature)
    if vote.block_id_flag != BLOCK_ID_FLAG_COMMIT:
        return not extension and not signature
    if not extension and not signature:
        return True
    if pub_key is None:
        return False
    if not verify_extension_signature(pub_key, signature, extension, height_voted, round,
                                      chain_id):
        return False
    return decode_extension(extension, params) is not None


def prune_extended_commit(
    commit: Any, valset: Sequence[ValidatorEntry], height_voted: int, chain_id: str,
    params: RelayParams,
) -> Any:
    """A copy of `commit` with every invalid extension and its signature cleared.

    Flags, addresses, powers and order are kept, so other nodes can compare the
    result field by field with the `proposed_last_commit` CometBFT gives them.
    """
    keys = {entry.address: entry.pub_key for entry in valset}
    pruned = ExtendedCommitInfo(round=commit.round)
    for vote in commit.votes:
        kept = pruned.votes.add()
        kept.CopyFrom(vote)
        pub_key = keys.get(bytes(vote.validator.address))
        if not is_vote_extension_valid(vote, pub_key, height_voted, commit.round, chain_id,
                                       params):
            kept.ClearField("vote_extension")
            kept.ClearField("extension_signature")
    return pruned


def _collect_windows(
    commit: Any, power_by_address: dict[bytes, int], params: RelayParams
) -> list[tuple[int, int, list[bytes]]]:
    """(power, first nonce, encoded events) for each commit vote with a usable extension."""
    windows: list[tuple[int, int, list[bytes]]] = []
    for vote in commit.votes:
        if vote.block_id_flag != BLOCK_ID_FLAG_COMMIT or not vote.vote_extension:
            continue
        events = decode_extension(bytes(vote.vote_extension), params)
        if not events:
            continue
        power = power_by_address[bytes(vote.validator.address)]
        windows.append((power, int(events[0].nonce), [encode_message(e) for e in events]))
    return windows


def tally_events(
    commit: Any, valset: Sequence[ValidatorEntry], last_applied_nonce: int,
    params: RelayParams,
) -> list[pb.events.L1Event]:
    """The events from last_applied_nonce + 1 on that more than 2/3 attest byte for byte.

    Stops at the first nonce without a supermajority, and after
    max_events_per_extension events. Trusts the extension signatures: callers
    prune (proposer) or verify (everyone else) first. A commit whose
    validators or powers differ from `valset` attests nothing.
    """
    if not is_commit_matching_valset(list(commit.votes), valset):
        return []
    total_power = compute_total_power(valset)
    if total_power <= 0:
        return []
    power_by_address = {entry.address: entry.power for entry in valset}
    windows = _collect_windows(commit, power_by_address, params)
    accepted: list[pb.events.L1Event] = []
    nonce = last_applied_nonce + 1
    while len(accepted) < params.max_events_per_extension:
        # Insertion-ordered dict: deterministic, and at most one entry can pass 2/3.
        support: dict[bytes, int] = {}
        for power, first, encoded in windows:
            index = nonce - first
            if 0 <= index < len(encoded):
                support[encoded[index]] = support.get(encoded[index], 0) + power
        winner = next((event for event, power in support.items()
                       if is_supermajority(power, total_power)), None)
        if winner is None:
            break
        accepted.append(pb.events.L1Event.FromString(winner))
        nonce += 1
    return accepted


def compute_supporting_commit(
    commit: Any, valset: Sequence[ValidatorEntry], events: Sequence[pb.events.L1Event],
    params: RelayParams,
) -> Any | None:
    """`commit` keeping only the extensions needed to attest `events`, or None.

    With many validators the full extended commit may not fit in the injected
    tx. Every event in `events` stays above 2/3 if we keep the extensions that
    carry all of them byte for byte, taken by (power desc, address asc) until
    their power passes 2/3; the other extensions are cleared, which is the
    same form pruning leaves and which verification counts as no vote.
    """
    wanted = [encode_message(e) for e in events]
    power = {entry.address: entry.power for entry in valset}
    supporters = []
    for vote in commit.votes:
        carried = decode_extension(bytes(vote.vote_extension), params) or []
        by_nonce = {int(e.nonce): encode_message(e) for e in carried}
        if all(by_nonce.get(int(e.nonce)) == w for e, w in zip(events, wanted, strict=True)):
            address = bytes(vote.validator.address)
            supporters.append((-power.get(address, 0), address))
    kept: set[bytes] = set()
    total, running = compute_total_power(valset), 0
    for negative_power, address in sorted(supporters):
        if is_supermajority(running, total):
            break
        kept.add(address)
        running -= negative_power
    if not is_supermajority(running, total):
        return None
    smaller = ExtendedCommitInfo()
    smaller.CopyFrom(commit)
    for vote in smaller.votes:
        if bytes(vote.validator.address) not in kept:
            vote.ClearField("vote_extension")
            vote.ClearField("extension_signature")
    return smaller
