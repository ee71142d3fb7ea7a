"""Golden app hash: a fixed scenario's state digest is pinned.

If this test fails, the change alters state transitions or encodings: it breaks
consensus with existing chains. Bump APP_PROTOCOL_VERSION and update the pin on purpose.
"""

from abci_app import chain
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule
from tests.unit.chain.helpers import (
    ETH,
    compute_app_hash,
    consensus_address,
    l1_event,
    l1_locked,
    make_driver,
    make_l2_progress_tx,
    owner_address,
)

GOLDEN_APP_HASH = "6722b46668505b98b29a2c3cfeacd42f1135515c75ed64b2dd2203234a58cdc9"


def run_fixed_scenario() -> bytes:
    driver = make_driver([10 * ETH, 20 * ETH, 30 * ETH])
    p = get_current_producer(get_epoch_schedule(driver.kv, 0))
    driver.block(l1_events=[l1_locked(1, 4, 5 * ETH)], txs=[make_l2_progress_tx(p, 0, p, 4)])
    driver.block(l1_events=[
        l1_event(2, "withdrawal_requested", sequencer_id=2, amount_wei=str(3 * ETH)),
        l1_event(3, "lock_increased", sequencer_id=9, amount_wei="1"),
    ], txs=[make_l2_progress_tx(p, 1, p, 10)])
    driver.block(misbehavior=[chain.Misbehavior("duplicate_vote", consensus_address(2), 2, 0, 60)])
    driver.block(advance_ns=120 * 10**9)
    driver.block(l1_events=[l1_event(4, "released", sequencer_id=2, to=owner_address(2),
                                     amount_wei=str(ETH))])
    return compute_app_hash(driver.kv)


def test_fixed_scenario_app_hash_is_pinned() -> None:
    assert run_fixed_scenario().hex() == GOLDEN_APP_HASH
