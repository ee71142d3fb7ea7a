"""Attested L2 headers (linking, out of turn) and epoch seeds (request, randomness, fallback)."""

from abci_app import chain, pb
from abci_app.chain.schedule import (
    compute_fallback_seed,
    compute_producer,
    compute_randomness_seed,
    get_current_producer,
    get_epoch_schedule,
)
from abci_app.chain.state import get_chain_state, get_sequencer
from tests.unit.chain.helpers import (
    ETH,
    L2_GENESIS_HASH,
    Driver,
    l1_locked,
    l2_block_hash,
    make_l2_driver,
    make_l2_header,
    signer_address,
)

TIMEOUT_NS = 60 * 10**9
DELAY = 16  # seed_l1_delay_blocks default
MIX = b"\x42" * 32


def _producer(driver: Driver) -> int:
    epoch = get_chain_state(driver.kv).current_epoch
    return get_current_producer(get_epoch_schedule(driver.kv, epoch))


def _events(outcome: chain.BlockOutcome, kind: str) -> list[dict[str, str]]:
    return [dict(e.attributes) for e in outcome.events if e.type == kind]


def _produced(driver: Driver, epoch: int) -> dict[int, int]:
    schedule = get_epoch_schedule(driver.kv, epoch)
    return {int(e.sequencer_id): int(e.l2_blocks) for e in schedule.produced}


# --- headers ------------------------------------------------------------------------------


def test_head_starts_at_the_l2_genesis_hash() -> None:
    driver = make_l2_driver([10 * ETH])
    assert chain.get_l2_head(driver.kv) == (0, L2_GENESIS_HASH)


def test_headers_apply_in_order_and_stop_at_the_first_that_does_not_link() -> None:
    driver = make_l2_driver([10 * ETH])
    signer = signer_address(1)
    outcome = driver.block(l2_headers=[
        make_l2_header(1, signer), make_l2_header(2, signer),
        make_l2_header(4, signer), make_l2_header(5, signer)])  # gap at 3
    assert chain.get_l2_head(driver.kv) == (2, l2_block_hash(2))
    assert _events(outcome, "l2_headers_skipped") == [{
        "from_l2_height": "4", "count": "2", "reason": "height 4 does not follow the head 2"}]
    forked = make_l2_header(3, signer, parent_hash=l2_block_hash(2, b"fork"))
    replay = make_l2_header(2, signer)
    for bad in (forked, replay, pb.l2.L2Header(height=3, hash=b"\x01", parent_hash=l2_block_hash(2),
                                                producer=signer)):
        assert _events(driver.block(l2_headers=[bad]), "l2_headers_skipped")
        assert chain.get_l2_head(driver.kv) == (2, l2_block_hash(2))
    driver.block(l2_headers=[make_l2_header(3, signer)])
    assert chain.get_l2_head(driver.kv) == (3, l2_block_hash(3))
    assert _produced(driver, 0) == {1: 3}


def test_out_of_turn_block_earns_nothing_and_is_recorded() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    other = next(i for i in (1, 2, 3) if i != p)
    outcome = driver.block(produce=3, producers={2: signer_address(other)})
    assert _events(outcome, "l2_out_of_turn") == [{
        "l2_height": "2", "producer": "0x" + signer_address(other).hex(),
        "scheduled_sequencer_id": str(p)}]
    assert get_sequencer(driver.kv, other).out_of_turn_blocks == 1
    assert _produced(driver, 0) == {p: 2}
    assert chain.get_l2_head(driver.kv) == (3, l2_block_hash(3))  # the head moves anyway
    driver.block(produce=7)
    assert get_sequencer(driver.kv, p).rewards_accrued_wei == str(9 * 1000)
    assert get_sequencer(driver.kv, other).rewards_accrued_wei == "0"


def test_out_of_turn_blocks_are_liveness_and_fault_their_producer() -> None:
    driver = make_l2_driver([10 * ETH, 10 * ETH, 10 * ETH])
    p = _producer(driver)
    other = next(i for i in (1, 2, 3) if i != p)
    driver.block(produce=1, producers={1: signer_address(other)}, advance_ns=TIMEOUT_NS - 10**9)
    outcome = driver.block(produce=1, producers={2: signer_address(other)})
    assert [(f["sequencer_id"], f["kind"]) for f in _events(outcome, "producer_fault")] == [
        (str(other), "out_of_turn")]
    assert _producer(driver) == p


# --- seeds -----------------------------------------------------------------------------------


def test_seed_request_and_randomness_seed_the_lookahead_epoch() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH, 30 * ETH])
    assert chain.get_seed_request(driver.kv) == DELAY  # epoch 2, named at genesis
    driver.block(l1_confirmed_height=100)
    driver.block(l1_confirmed_height=50)
    assert chain.get_attested_l1_height(driver.kv) == 100  # the max ever
    outcome = driver.block(seed_randomness=pb.l2.L1Randomness(l1_height=DELAY, mix_hash=MIX))
    seeded = get_epoch_schedule(driver.kv, 2)
    assert seeded.seed == compute_randomness_seed(MIX, 2)
    assert seeded.spans[0].sequencer_id == compute_producer(seeded.seed, list(seeded.candidates))
    assert _events(outcome, "epoch_seeded")[0]["epoch"] == "2"
    assert chain.get_seed_request(driver.kv) == 0
    outcome = driver.block(produce=10)  # epoch 1 starts: epoch 3 names a block past 100
    assert not _events(outcome, "seed_fallback")
    assert chain.get_seed_request(driver.kv) == 100 + DELAY
    driver.block(produce=10)  # epoch 2 starts with its L1 seed
    assert get_epoch_schedule(driver.kv, 2).seed == compute_randomness_seed(MIX, 2)


def test_randomness_for_another_block_or_malformed_is_ignored() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH])
    for randomness in (pb.l2.L1Randomness(l1_height=DELAY + 1, mix_hash=MIX),
                       pb.l2.L1Randomness(l1_height=DELAY, mix_hash=b"\x01" * 31)):
        outcome = driver.block(seed_randomness=randomness)
        assert _events(outcome, "seed_randomness_ignored")
        assert chain.get_seed_request(driver.kv) == DELAY


def test_fallback_seeds_an_epoch_whose_randomness_never_came() -> None:
    driver = make_l2_driver([10 * ETH, 20 * ETH, 30 * ETH])
    driver.block(produce=10)
    driver.block(produce=10)  # epoch 1 ends; epoch 2 waits for its seed
    outcome = driver.block(l1_confirmed_height=2 * DELAY)  # its L1 block is long confirmed
    assert _events(outcome, "seed_fallback") == [{
        "epoch": "2", "l1_height": str(DELAY), "reason": "l1_block_confirmed_without_randomness"}]
    seed1 = get_epoch_schedule(driver.kv, 1).seed
    assert get_epoch_schedule(driver.kv, 2).seed == compute_fallback_seed(seed1, 2)


def test_snapshot_fixes_the_candidates_when_the_epoch_two_before_starts() -> None:
    driver = make_l2_driver([10 * ETH])
    driver.block(l1_events=[l1_locked(1, 2, 50 * ETH)])
    snapshot = get_epoch_schedule(driver.kv, 2)
    assert [c.sequencer_id for c in snapshot.candidates] == [1]  # taken at genesis
    driver.block(produce=10)
    assert [(c.sequencer_id, c.power) for c in get_epoch_schedule(driver.kv, 3).candidates] == [
        (2, 50), (1, 10)]
