"""Typed state accessors: a missing record is None, and a record the state must hold
but lacks is named in a clear error (a bug, never an AttributeError on None)."""

import pytest

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.params import Params
from abci_app.chain.schedule import get_epoch_schedule, get_known_epoch_schedule
from abci_app.chain.state import (
    get_known_sequencer,
    get_record,
    get_records,
    get_sequencer,
    put_params,
    put_record,
    put_sequencer,
)
from abci_app.store.kv import MemoryKV


def test_unknown_sequencer_reads_as_none() -> None:
    assert get_sequencer(MemoryKV(), 7) is None


def test_known_sequencer_missing_from_state_is_named() -> None:
    with pytest.raises(RuntimeError, match="sequencer 7 .*missing"):
        get_known_sequencer(MemoryKV(), 7)


def test_known_sequencer_is_the_stored_record() -> None:
    kv = MemoryKV()
    put_params(kv, Params())  # the sequencer indexes depend on the params
    put_sequencer(kv, state.Sequencer(id=7, locked_wei="5"))
    assert get_known_sequencer(kv, 7) == state.Sequencer(id=7, locked_wei="5")


def test_missing_epoch_schedule_is_none_or_named() -> None:
    kv = MemoryKV()
    assert get_epoch_schedule(kv, 3) is None
    with pytest.raises(RuntimeError, match="epoch 3"):
        get_known_epoch_schedule(kv, 3)


def test_records_come_back_as_their_message_type_in_key_order() -> None:
    kv = MemoryKV()
    for slash_id in (2, 1):
        put_record(kv, keys.slash_key(slash_id), state.SlashRecord(id=slash_id, reason="x"))
    records = get_records(kv, keys.SLASH_PREFIX, state.SlashRecord)
    assert [type(r) for r in records] == [state.SlashRecord, state.SlashRecord]
    assert [r.id for r in records] == [1, 2]
    assert get_record(kv, keys.slash_key(3), state.SlashRecord) is None
