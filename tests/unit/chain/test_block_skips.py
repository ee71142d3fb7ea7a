"""Per-block work follows what changed: an empty block reads neither the rotation
candidates nor the validator index, a moved index still gets its diff and its rotation
check, and skipping never changes a result (checked against the full path)."""

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import chain
from abci_app.chain import block as block_module
from abci_app.chain import keys
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule
from abci_app.chain.state import JAILED, get_chain_state, get_known_sequencer
from abci_app.store.kv import KVStore, MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    L2_PARAMS,
    Driver,
    consensus_pubkey,
    l1_event,
    l1_locked,
    make_app_state,
)
from tests.unit.chain.test_properties import MAX_INDEX, draw_block, run_block


class IndexReadCounter(MemoryKV):
    """Counts the validator-index entries read."""

    index_reads = 0

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for item in super().iterate(prefix, start):
            if item[0].startswith(keys.VALIDATOR_INDEX_PREFIX):
                self.index_reads += 1
            yield item


class FullPathWrites(block_module.BlockWrites):
    """The block as if every write moved the index: no step is skipped."""

    def __init__(self, kv: KVStore) -> None:
        super().__init__(kv)
        self.validator_index_changed = True


def make_counting_driver(stakes: list[int]) -> tuple[Driver, IndexReadCounter]:
    kv = IndexReadCounter()
    chain.init_chain(kv, make_app_state(stakes, **L2_PARAMS), CHAIN_ID, GENESIS_TIME_NS, 1)
    return Driver(kv), kv


def current_producer(driver: Driver) -> int:
    schedule = get_epoch_schedule(driver.kv, get_chain_state(driver.kv).current_epoch)
    assert schedule is not None
    return get_current_producer(schedule)


def test_empty_block_reads_neither_candidates_nor_validator_index() -> None:
    driver, kv = make_counting_driver([10 * ETH] * 4)
    driver.block()  # the first block's rotation starts from genesis
    kv.index_reads = 0
    for _ in range(3):
        outcome = driver.block()
        assert outcome.validator_updates == []
    # One entry per block at most: "is the index empty" (the kept-set event)
    assert kv.index_reads <= 3, "an empty block read the validator index"


def test_power_change_still_reads_the_index_and_sends_the_diff() -> None:
    driver, kv = make_counting_driver([10 * ETH] * 2)
    driver.block()
    kv.index_reads = 0
    outcome = driver.block(l1_events=[l1_locked(1, 3, 4 * ETH)])
    assert outcome.validator_updates == [chain.ValidatorUpdate(consensus_pubkey(3), 4)]
    assert kv.index_reads > 0


def test_producer_jailed_at_end_of_block_is_replaced_in_the_next_empty_block() -> None:
    # The downtime jail lands after the rotation of its block; the next block writes
    # nothing to the index, yet must see that its producer changed status.
    driver, _ = make_counting_driver([10 * ETH] * 3)
    driver.block()
    producer = current_producer(driver)
    absent = consensus_pubkey(producer)
    while get_known_sequencer(driver.kv, producer).status != JAILED:
        assert driver.height < 30, "the absent producer was never jailed"
        driver.block(votes=[chain.VoteInfo(e.address, e.power, e.pub_key != absent)
                            for e in chain.get_validator_set(driver.kv, driver.height)])
    assert current_producer(driver) == producer
    outcome = driver.block()
    assert [e.attributes for e in outcome.events if e.type == "producer_reelected"] != []
    assert current_producer(driver) not in (producer, 0)


def test_unlock_of_the_producer_in_a_block_replaces_it_in_the_same_block() -> None:
    driver, _ = make_counting_driver([10 * ETH] * 3)
    driver.block()
    producer = current_producer(driver)
    outcome = driver.block(l1_events=[l1_event(1, "unlock_initiated", sequencer_id=producer)])
    assert outcome.l1_results[0].code == 0, outcome.l1_results[0].log
    assert any(e.type == "producer_reelected" for e in outcome.events)
    assert current_producer(driver) not in (producer, 0)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), stakes=st.lists(st.sampled_from([ETH, 5 * ETH, 20 * ETH]),
                                       min_size=1, max_size=4))
def test_skipping_never_changes_a_block(data: Any, stakes: list[int]) -> None:
    app_state = make_app_state(stakes, **L2_PARAMS)
    driver = Driver(MemoryKV())
    chain.init_chain(driver.kv, app_state, CHAIN_ID, GENESIS_TIME_NS, 1)
    full = MemoryKV()
    chain.init_chain(full, app_state, CHAIN_ID, GENESIS_TIME_NS, 1)
    offline = data.draw(st.sets(st.integers(1, MAX_INDEX), max_size=2))
    for _ in range(data.draw(st.integers(1, 30))):
        block, outcome = run_block(driver, draw_block(data, driver, offline))
        with patch.object(block_module, "BlockWrites", FullPathWrites):
            expected = chain.finalize_block(full, block)
        assert outcome == expected
        assert driver.kv.items() == full.items()
