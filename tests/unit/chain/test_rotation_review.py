"""Review findings on the rotation (issue 13): each test reproduces one attack that used to work.

1. out-of-turn production got the honest scheduled producer slashed;
2. the producer of e+1 chose between the L1 seed and the fallback seed of e+2;
3. a proposer omitting the attested tx caused a producer fault;
4. a proposer chose the re-election winner by including an Unjail;
6. an attested L1 height near 2^64 halted the chain.
"""

import pytest

from abci_app import chain, pb
from abci_app.chain.schedule import (
    compute_fallback_seed,
    compute_randomness_seed,
    get_current_producer,
    get_epoch_schedule,
    get_sequencer_at,
)
from abci_app.chain.seeds import MAX_L1_HEIGHT_STEP, get_seed_request
from abci_app.chain.state import get_chain_state, get_sequencer
from abci_app.errors import QueryNotFoundError
from abci_app.relay.tally import compute_l1_confirmed_height
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    ETH,
    GENESIS_TIME_NS,
    L2_PARAMS,
    Driver,
    consensus_address,
    l1_locked,
    make_app_state,
    make_l2_driver,
    make_l2_header,
    make_unjail_tx,
    signer_address,
)

MIX = b"\x42" * 32
DELAY = 16  # seed_l1_delay_blocks default


def _events(outcome: chain.BlockOutcome, kind: str) -> list[dict[str, str]]:
    return [dict(e.attributes) for e in outcome.events if e.type == kind]


def _producer(driver: Driver) -> int:
    epoch = get_chain_state(driver.kv).current_epoch
    return get_current_producer(get_epoch_schedule(driver.kv, epoch))


# --- 1. out of turn ---------------------------------------------------------------------------


def test_out_of_turn_production_faults_the_producer_not_the_scheduled_one() -> None:
    driver = make_l2_driver([10 * ETH] * 4, rotation_timeout_s=5, epoch_length=100)
    scheduled = _producer(driver)
    attacker = next(i for i in range(1, 5) if i != scheduled)
    faults: list[str] = []
    for _ in range(20):
        head = get_chain_state(driver.kv).last_l2_height
        headers = [make_l2_header(head + 1, signer_address(attacker)),
                   make_l2_header(head + 2, signer_address(attacker))]
        faults += [f["sequencer_id"] for f in _events(
            driver.block(l2_headers=headers), "producer_fault")]
    assert faults == [str(attacker)] * 20  # one fault per CometBFT block, never the scheduled
    assert get_sequencer(driver.kv, scheduled).missed_productions == 0
    assert get_sequencer(driver.kv, attacker).out_of_turn_blocks == 40
    assert int(get_sequencer(driver.kv, attacker).locked_wei) < 10 * ETH
    assert _producer(driver) == scheduled


def test_out_of_turn_block_by_an_unknown_producer_is_an_event_only() -> None:
    driver = make_l2_driver([10 * ETH] * 2, rotation_timeout_s=5)
    outcome = driver.block(l2_headers=[make_l2_header(1, b"\x77" * 20)])
    assert _events(outcome, "l2_out_of_turn") and not _events(outcome, "producer_fault")
    # Liveness, credited from the previous block, whose votes saw the header.
    assert get_chain_state(driver.kv).last_progress_time_ns == driver.time_ns - 10**9


# --- 2. no immediate fallback --------------------------------------------------------------


def test_an_unseeded_epoch_waits_for_its_l1_seed_instead_of_falling_back() -> None:
    driver = make_l2_driver([10 * ETH] * 4, rotation_timeout_s=5, epoch_length=10)
    driver.block(produce=10)
    outcome = driver.block(produce=10)  # epoch 1 ends before epoch 2's randomness is attested
    assert not _events(outcome, "seed_fallback")
    assert get_chain_state(driver.kv).current_epoch == 1
    with pytest.raises(QueryNotFoundError, match="not scheduled yet"):
        get_sequencer_at(driver.kv, 21)
    for _ in range(10):  # well past the rotation timeout: nobody is scheduled, nobody faulted
        outcome = driver.block(l1_confirmed_height=DELAY)
        assert not _events(outcome, "producer_fault")
    outcome = driver.block(seed_randomness=pb.l2.L1Randomness(l1_height=DELAY, mix_hash=MIX))
    assert _events(outcome, "epoch_started") == [{"epoch": "2"}]
    assert get_epoch_schedule(driver.kv, 2).seed == compute_randomness_seed(MIX, 2)
    assert get_sequencer_at(driver.kv, 21)[0] == 2


def test_fallback_after_the_l1_block_is_long_confirmed_without_its_randomness() -> None:
    driver = make_l2_driver([10 * ETH] * 4, epoch_length=10)
    driver.block(produce=20)
    assert not _events(driver.block(l1_confirmed_height=2 * DELAY - 1), "seed_fallback")
    outcome = driver.block(l1_confirmed_height=2 * DELAY)
    assert _events(outcome, "seed_fallback")[0]["epoch"] == "2"
    seed1 = get_epoch_schedule(driver.kv, 1).seed
    assert get_epoch_schedule(driver.kv, 2).seed == compute_fallback_seed(seed1, 2)
    assert get_chain_state(driver.kv).current_epoch == 2


def test_fallback_after_seed_timeout_s_of_block_time() -> None:
    driver = make_l2_driver([10 * ETH] * 4, epoch_length=10, seed_timeout_s=30)
    driver.block(produce=20)
    assert not _events(driver.block(advance_ns=29 * 10**9), "seed_fallback")
    assert _events(driver.block(), "seed_fallback")[0]["epoch"] == "2"
    assert get_chain_state(driver.kv).current_epoch == 2


# --- 3. omitting the attested tx -----------------------------------------------------------


def test_omitting_the_attested_tx_only_delays_a_timeout_fault() -> None:
    driver = make_l2_driver([10 * ETH] * 4, rotation_timeout_s=5, epoch_length=100)
    driver.block(produce=1)
    for _ in range(3):
        driver.block()
    driver.block()
    assert not _events(driver.block(), "producer_fault")  # timeout, but nothing attested
    assert not _events(driver.block(produce=1), "producer_fault")  # the header came: progress
    for _ in range(5):
        assert not _events(driver.block(), "producer_fault")
    assert _events(driver.block(l1_confirmed_height=5), "producer_fault")  # attestation flows


def test_a_stalled_attestation_path_still_faults_after_twice_the_timeout() -> None:
    driver = make_l2_driver([10 * ETH] * 4, rotation_timeout_s=5, epoch_length=100)
    driver.block(produce=1)
    faults = [bool(_events(driver.block(), "producer_fault")) for _ in range(10)]
    assert faults == [False] * 8 + [True, False]  # 10 s after the votes that saw it


# --- 4. re-election before user txs, over the snapshot ----------------------------------


def _reelect_with_unjail(chain_id: str, include_unjail: bool) -> str:
    kv = MemoryKV()
    chain.init_chain(kv, make_app_state(
        [10 * ETH] * 4, **L2_PARAMS, epoch_length=100, rotation_timeout_s=30,
        signed_blocks_window=10, min_signed_bps=5000, downtime_jail_s=1), chain_id,
        GENESIS_TIME_NS, 1)
    driver = Driver(kv)
    failing = _producer(driver)
    jailed = next(j for j in range(1, 5) if j != failing)
    for _ in range(8):
        votes = [chain.VoteInfo(e.address, e.power, e.address != consensus_address(jailed))
                 for e in chain.get_validator_set(kv, driver.height)]
        driver.block(votes=votes)
    while driver.time_ns - get_chain_state(kv).last_progress_time_ns < 29 * 10**9:
        driver.block()
    txs = [make_unjail_tx(jailed, 0, jailed)] if include_unjail else []
    outcome = driver.block(txs=txs, l1_confirmed_height=1)
    return _events(outcome, "producer_reelected")[0]["sequencer_id"]


def test_a_proposer_cannot_pick_the_reelection_winner_with_an_unjail() -> None:
    for k in range(8):
        chain_id = f"seqset-review-{k}"
        assert _reelect_with_unjail(chain_id, False) == _reelect_with_unjail(chain_id, True)


def test_reelection_draws_from_the_epochs_snapshot() -> None:
    for k in range(6):
        kv = MemoryKV()
        chain.init_chain(kv, make_app_state([10 * ETH] * 3, **L2_PARAMS, rotation_timeout_s=5),
                         f"seqset-snap-{k}", GENESIS_TIME_NS, 1)
        driver = Driver(kv)
        driver.block(l1_events=[l1_locked(1, 4, 1000 * ETH)])  # joins after the snapshot
        for _ in range(6):
            driver.block(l1_confirmed_height=driver.height)
        assert _producer(driver) != 4


# --- 6. L1 heights near 2^64 --------------------------------------------------------------


def test_a_huge_attested_l1_height_is_ignored_and_never_halts_the_chain() -> None:
    driver = make_l2_driver([10 * ETH] * 4, epoch_length=10)
    outcome = driver.block(l1_confirmed_height=2**64 - 5)
    assert _events(outcome, "l1_confirmed_height_ignored")
    assert chain.get_attested_l1_height(driver.kv) == 0
    driver.block(l1_confirmed_height=100)
    assert not _events(driver.block(l1_confirmed_height=100 + MAX_L1_HEIGHT_STEP),
                       "l1_confirmed_height_ignored")
    assert _events(driver.block(l1_confirmed_height=101 + 2 * MAX_L1_HEIGHT_STEP),
                   "l1_confirmed_height_ignored")
    driver.block(produce=10)  # epoch 1 starts and names a seed block without overflow
    assert get_seed_request(driver.kv) == DELAY


def test_the_tally_of_l1_heights_handles_uint64_edges() -> None:
    top = 2**64 - 1
    assert compute_l1_confirmed_height([(top, 3), (top, 1)], 4) == top
    assert compute_l1_confirmed_height([(top, 2), (0, 2)], 4) == 0
