"""The producer's clock counts only time in which the chain could have attested production."""

from abci_app import chain
from abci_app.chain.params import NS_PER_S
from abci_app.chain.state import get_chain_state, get_sequencer
from tests.unit.chain.helpers import ETH, Driver, make_l2_driver, make_l2_header, signer_address

TIMEOUT_S = 5


def _faults(outcome: chain.BlockOutcome) -> list[str]:
    return [dict(e.attributes)["sequencer_id"] for e in outcome.events
            if e.type == "producer_fault"]


def _driver() -> Driver:
    return make_l2_driver([10 * ETH] * 4, rotation_timeout_s=TIMEOUT_S, epoch_length=100)


def test_a_network_that_starts_after_its_genesis_time_faults_nobody() -> None:
    driver = _driver()
    # The first block comes 30 s after genesis time, with attestation flowing at once.
    assert _faults(driver.block(advance_ns=30 * NS_PER_S, l1_confirmed_height=1)) == []
    assert get_chain_state(driver.kv).last_progress_time_ns == driver.time_ns


def test_a_chain_halt_is_nobody_s_production_fault() -> None:
    driver = _driver()
    driver.block(produce=1)
    driver.block(produce=1)
    # The chain itself was down for a minute: nobody could attest a header.
    assert _faults(driver.block(advance_ns=60 * NS_PER_S, l1_confirmed_height=1)) == []
    # The clock restarts there, and a silent producer is still replaced afterwards.
    faults = [_faults(driver.block(l1_confirmed_height=2 + i)) for i in range(TIMEOUT_S)]
    assert [bool(f) for f in faults] == [False] * (TIMEOUT_S - 1) + [True]


def test_progress_counts_from_the_block_whose_votes_saw_the_header() -> None:
    driver = _driver()
    driver.block()
    voted_at = driver.time_ns
    driver.block(produce=1)
    assert get_chain_state(driver.kv).last_progress_time_ns == voted_at


def test_a_replaced_producer_s_late_block_is_not_faulted_twice() -> None:
    driver = _driver()
    driver.block(produce=1)
    faults: list[str] = []
    for i in range(TIMEOUT_S + 1):
        faults += _faults(driver.block(l1_confirmed_height=1 + i))
    assert len(faults) == 1
    late = int(faults[0])
    # The replaced producer's block, mined just before the re-election, is attested now.
    head = get_chain_state(driver.kv).last_l2_height
    outcome = driver.block(l2_headers=[make_l2_header(head + 1, signer_address(late))],
                           l1_confirmed_height=100)
    assert any(e.type == "l2_out_of_turn" for e in outcome.events)
    assert _faults(outcome) == []
    assert get_sequencer(driver.kv, late).missed_productions == 1
