"""Shared scenario for relay tests: 4 validators voting on height H-1."""

from collections.abc import Mapping, Sequence
from typing import Any

from abci_app.devnet.relay_testing import (
    LocalValidator,
    compute_commit_info,
    get_valset,
    make_event,
    make_extended_commit,
    make_validators,
)
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams

CHAIN_ID = "seqset-test"
HEIGHT = 10  # the proposal's height; the votes are for HEIGHT - 1
HEIGHT_VOTED = HEIGHT - 1
PARAMS = RelayParams()
POWERS = [10, 10, 10, 10]


def make_events(first: int, count: int, **kwargs: Any) -> list[Any]:
    return [make_event(nonce, **kwargs) for nonce in range(first, first + count)]


def make_scenario(
    extensions: Mapping[int, bytes], powers: Sequence[int] = POWERS,
    flags: Mapping[int, int] | None = None, round: int = 0,
) -> tuple[list[LocalValidator], Any]:
    """Validators and their signed extended commit for HEIGHT_VOTED."""
    validators = make_validators(powers)
    commit = make_extended_commit(validators, extensions, HEIGHT_VOTED, CHAIN_ID, round=round,
                                  flags=flags)
    return validators, commit


def all_attest(events: Sequence[Any], last_applied: int = 0, n: int = 4) -> dict[int, bytes]:
    extension = build_extension(events, last_applied, PARAMS)
    return {index: extension for index in range(n)}


__all__ = ["compute_commit_info", "get_valset"]
