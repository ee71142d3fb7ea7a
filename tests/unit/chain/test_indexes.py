"""The sequencer indexes (validator, signer, reward) always equal a full recomputation,
and an empty block reads no sequencer record beyond the validator set."""

from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.schedule import compute_rotation_candidates, get_rotation_candidates
from abci_app.chain.state import (
    compute_validator_index_entry,
    get_sequencer,
    get_sequencer_id_by_signer,
    get_sequencers,
    is_reward_pending,
    put_sequencer,
)
from abci_app.chain.validators import compute_validator_set, get_indexed_validator_set
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    L2_PARAMS,
    SETTLEMENT_PARAMS,
    Driver,
    make_app_state,
    make_l2_driver,
    signer_address,
)
from tests.unit.chain.test_properties import MAX_INDEX, draw_block, run_block

INDEX_PREFIXES = (keys.VALIDATOR_INDEX_PREFIX, keys.SIGNER_INDEX_PREFIX,
                  keys.REWARD_INDEX_PREFIX)


def compute_expected_indexes(kv: MemoryKV) -> dict[bytes, bytes]:
    """Every index entry, rebuilt from the sequencer records alone."""
    params = chain.get_params(kv)
    expected: dict[bytes, bytes] = {}
    for seq in get_sequencers(kv):
        entry = compute_validator_index_entry(seq, params)
        if entry is not None:
            expected[entry[0]] = entry[1]
        expected[keys.signer_index_key(bytes(seq.signer), int(seq.id))] = b""
        if is_reward_pending(seq):
            expected[keys.reward_index_key(int(seq.id))] = b""
    return expected


def assert_indexes_match_recomputation(kv: MemoryKV, time_ns: int) -> None:
    stored = {k: v for prefix in INDEX_PREFIXES for k, v in kv.iterate(prefix)}
    assert stored == compute_expected_indexes(kv)
    params = chain.get_params(kv)
    sequencers = get_sequencers(kv)
    assert get_indexed_validator_set(kv, params) == compute_validator_set(sequencers, params)
    assert get_rotation_candidates(kv, params, time_ns) == compute_rotation_candidates(
        sequencers, params, time_ns)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), stakes=st.lists(st.sampled_from([ETH, 5 * ETH, 20 * ETH]),
                                       min_size=1, max_size=4),
       settle=st.booleans())
def test_indexes_equal_a_full_recomputation_after_random_blocks(
    data: Any, stakes: list[int], settle: bool
) -> None:
    params = {**L2_PARAMS, **(SETTLEMENT_PARAMS if settle else {})}
    kv = MemoryKV()
    chain.init_chain(kv, make_app_state(stakes, **params), CHAIN_ID, GENESIS_TIME_NS, 1)
    assert_indexes_match_recomputation(kv, GENESIS_TIME_NS)
    driver = Driver(kv)
    offline = data.draw(st.sets(st.integers(1, MAX_INDEX), max_size=2))
    for _ in range(data.draw(st.integers(1, 30))):
        run_block(driver, draw_block(data, driver, offline))
        assert_indexes_match_recomputation(kv, driver.time_ns)


def test_signer_lookup_is_the_lowest_id_and_follows_a_signer_change() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    kv = driver.kv
    third = get_sequencer(kv, 3)
    assert third is not None
    third.signer = signer_address(2)
    put_sequencer(kv, third)
    assert get_sequencer_id_by_signer(kv, signer_address(2)) == 2
    assert get_sequencer_id_by_signer(kv, signer_address(3)) is None
    second = get_sequencer(kv, 2)
    assert second is not None
    second.signer = signer_address(9)
    put_sequencer(kv, second)
    assert get_sequencer_id_by_signer(kv, signer_address(2)) == 3
    assert get_sequencer_id_by_signer(kv, signer_address(2)[:19]) is None


def test_power_change_moves_the_validator_index_entry() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH])
    seq = get_sequencer(driver.kv, 1)
    assert seq is not None
    seq.locked_wei = str(30 * ETH)
    seq.l1_locked_wei = str(30 * ETH)
    put_sequencer(driver.kv, seq)
    params = chain.get_params(driver.kv)
    assert [e.sequencer_id for e in get_indexed_validator_set(driver.kv, params)] == [1, 2]
    seq.status = state.SEQUENCER_STATUS_JAILED
    put_sequencer(driver.kv, seq)
    assert [e.sequencer_id for e in get_indexed_validator_set(driver.kv, params)] == [2]


class RegistryGuard(MemoryKV):
    """Fails on any read of the whole sequencer registry."""

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        assert not prefix.startswith(keys.SEQUENCER_PREFIX), "iterated every sequencer"
        return super().iterate(prefix, start)


def test_empty_blocks_never_iterate_the_sequencer_registry() -> None:
    kv = RegistryGuard()
    app_state = make_app_state([10 * ETH] * 4, **L2_PARAMS, **SETTLEMENT_PARAMS)
    source = MemoryKV()
    chain.init_chain(source, app_state, CHAIN_ID, GENESIS_TIME_NS, 1)
    for key, value in source.items().items():
        kv.set(key, value)
    driver = Driver(kv)
    for _ in range(2 * SETTLEMENT_PARAMS["settlement_interval_blocks"] + 1):
        driver.block()
