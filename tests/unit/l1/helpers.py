"""Builders shared by the watcher tests."""

from __future__ import annotations

from typing import Any

from abci_app.l1.cursor import CursorStore, MemoryCursorStore
from abci_app.l1.view import ObservedLog
from abci_app.l1.watcher import PollResult, Watcher, WatcherConfig
from tests.unit.l1.fake_l1 import CONTRACT, FakeL1


def make_watcher(
    l1: FakeL1, store: CursorStore | None = None, **overrides: Any
) -> tuple[Watcher, ObservedLog]:
    settings: dict[str, Any] = {"contract_address": CONTRACT, "start_block": 1,
                                "confirmations": 2}
    settings.update(overrides)
    view = ObservedLog()
    return Watcher(l1, store or MemoryCursorStore(), WatcherConfig(**settings), view), view


def get_served(view: ObservedLog) -> list[Any]:
    return view.get_after(0, 0, 0).events


def get_served_nonces(view: ObservedLog) -> list[int]:
    return [event.nonce for event in get_served(view)]


def poll_until_caught_up(watcher: Watcher, limit: int = 100) -> PollResult:
    for _ in range(limit):
        result = watcher.poll_once()
        if result.caught_up:
            return result
    raise AssertionError(f"watcher not caught up after {limit} polls")
