"""The app's metrics: recorded at FinalizeBlock, CheckTx and Commit; a scrape reads no state."""

from typing import Any

from abci_app import pb
from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.state import JAILED, get_sequencer, put_sequencer
from abci_app.errors import TxDecodeError
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.metrics import AppMetrics, compute_code_name, get_commit_snapshot
from abci_app.handlers.proposals import ProposalHandler
from abci_app.store.state_store import StateStore
from tests.unit.chain.helpers import CHAIN_ID, ETH, consensus_address, make_app_state


def make_metered_app(validators: int = 3, **params: Any) -> SeqsetApp:
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, lambda reason: None)
    app.metrics = AppMetrics()
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1,
        app_state_bytes=make_app_state([10 * ETH] * validators, **params))))
    return app


def run_block(app: SeqsetApp, height: int, absent: frozenset[int] = frozenset()) -> None:
    """One block whose last commit holds every genesis validator, `absent` ones absent."""
    votes = [] if height == 1 else [
        pb.abci.VoteInfo(
            validator=pb.abci.Validator(address=consensus_address(i), power=10),
            block_id_flag=(pb.validator.BLOCK_ID_FLAG_ABSENT if i in absent
                           else pb.validator.BLOCK_ID_FLAG_COMMIT))
        for i in (1, 2, 3)]
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(
        height=height, decided_last_commit=pb.abci.CommitInfo(votes=votes))))
    app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))


def sample(app: SeqsetApp, line_start: str) -> float:
    assert app.metrics is not None
    for line in app.metrics.render().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start!r} in the scrape")


class NoStore:
    """Stands in for the store after Commit: any read from a scrape fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a scrape read the store ({name})")


def test_commit_records_height_validators_and_latency() -> None:
    app = make_metered_app()
    for height in (1, 2, 3):
        run_block(app, height)
    assert sample(app, "seqset_height") == 3
    assert sample(app, "seqset_validators") == 3
    assert sample(app, 'seqset_validator_power{sequencer_id="2"}') > 0
    assert sample(app, "seqset_blocks_finalized_total") == 3
    assert sample(app, "seqset_finalize_block_seconds_count") == 3
    assert sample(app, "seqset_commit_seconds_count") == 3
    assert sample(app, 'seqset_commit_seconds_bucket{le="+Inf"}') == 3
    assert sample(app, "seqset_settlement_pending_batches") == 0
    assert sample(app, "seqset_l2_attested_height") == 0


def test_missed_blocks_are_recorded_per_validator_at_commit() -> None:
    app = make_metered_app()
    run_block(app, 1)
    for height in (2, 3, 4):
        run_block(app, height, absent=frozenset({3}))
    assert sample(app, 'seqset_validator_missed_blocks{sequencer_id="3"}') == 3
    assert sample(app, 'seqset_validator_missed_blocks{sequencer_id="1"}') == 0


def test_a_scrape_renders_what_commit_recorded_without_reading_state() -> None:
    app = make_metered_app()
    run_block(app, 1)
    run_block(app, 2)
    app.store = NoStore()  # type: ignore[assignment]
    assert sample(app, "seqset_height") == 2


def test_downtime_jail_shows_in_jailed_count_and_validator_set_shrinks() -> None:
    app = make_metered_app(signed_blocks_window=2, min_signed_bps=5_000)
    run_block(app, 1)
    assert sample(app, "seqset_sequencers_jailed") == 0
    height = 2
    while sample(app, "seqset_sequencers_jailed") == 0 and height < 10:
        run_block(app, height, absent=frozenset({3}))
        height += 1
    assert sample(app, "seqset_sequencers_jailed") == 1
    assert sample(app, "seqset_validators") == 2
    assert app.metrics is not None and 'sequencer_id="3"' not in app.metrics.render()


def test_jailed_before_a_restart_are_counted_by_the_first_commit() -> None:
    # Sequencer 4 has the least stake and max_validators is 3: it is no validator.
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, lambda reason: None)
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1,
        app_state_bytes=make_app_state([20 * ETH] * 3 + [10 * ETH], max_validators=3))))
    run_block(app, 1)
    # Jail it behind the metrics' back, as if that happened while the node was down.
    overlay = app.store.overlay()
    seq = get_sequencer(overlay, 4)
    assert seq is not None
    seq.status = JAILED
    put_sequencer(overlay, seq)
    snapshot = get_commit_snapshot(overlay, 1, watched=None)
    assert snapshot.jailed_ids == frozenset({4}) and 4 not in snapshot.power
    # Later commits read only the validators and the ids watched before: O(validators).
    assert get_commit_snapshot(overlay, 1, watched=frozenset()).jailed_ids == frozenset()
    assert get_commit_snapshot(overlay, 1, watched=frozenset({4})).jailed_ids == frozenset({4})


def test_checktx_results_are_counted_by_code_name() -> None:
    app = make_metered_app()
    run_block(app, 1)
    for _ in range(2):
        app.handle(pb.abci.Request(check_tx=pb.abci.RequestCheckTx(tx=b"\xff\x00garbage")))
    assert sample(app, 'seqset_checktx_total{code="TxDecodeError"}') == 2
    assert compute_code_name(0) == "ok"
    assert compute_code_name(TxDecodeError.code) == "TxDecodeError"
    assert compute_code_name(9999) == "code_9999"


def test_in_flight_settlement_batch_shows_as_backlog() -> None:
    app = make_metered_app()
    run_block(app, 1)
    metrics = app.metrics
    assert metrics is not None
    overlay = app.store.overlay()
    snap = get_commit_snapshot(overlay, 1, frozenset())
    assert snap.in_flight_nonce == 0
    chain_state = state.ChainState()
    chain_state.ParseFromString(overlay.get(keys.CHAIN_STATE) or b"")
    chain_state.in_flight_batch_nonce = 1
    overlay.set(keys.CHAIN_STATE, chain_state.SerializeToString(deterministic=True))
    overlay.set(keys.settlement_batch_key(1), state.SettlementBatch(
        nonce=1, formed_height=1).SerializeToString(deterministic=True))
    snap = get_commit_snapshot(overlay, 5, frozenset())
    metrics.record_snapshot(snap, batch_items=3)
    assert sample(app, "seqset_settlement_pending_batches") == 1
    assert sample(app, "seqset_settlement_pending_items") == 3
    assert sample(app, "seqset_settlement_in_flight_blocks") == 4


def test_a_failing_metrics_update_does_not_fail_commit() -> None:
    halts: list[str] = []
    app = SeqsetApp(StateStore(None), ProposalHandler(), None, halts.append)
    app.metrics = AppMetrics()
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=make_app_state([10 * ETH] * 3))))

    def broken(*args: Any) -> None:
        raise RuntimeError("metrics bug")

    app.metrics.observe_commit = broken  # type: ignore[method-assign]
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=1)))
    response = app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
    assert response.WhichOneof("value") == "commit" and not halts
    assert app.store.last_height == 1


def test_state_metrics_are_read_at_most_once_per_interval() -> None:
    app = make_metered_app()
    assert app.metrics is not None
    app.metrics.snapshot_interval_s = 3600.0
    reads: list[int] = []
    import abci_app.handlers.metrics as metrics_module

    original = metrics_module.get_commit_snapshot

    def counting(*args: Any) -> Any:
        reads.append(args[1])
        return original(*args)

    metrics_module.get_commit_snapshot = counting  # type: ignore[assignment]
    try:
        for height in (1, 2, 3):
            run_block(app, height)
    finally:
        metrics_module.get_commit_snapshot = original  # type: ignore[assignment]
    assert reads == [1]  # the first Commit reads the state, the next ones within the hour not
    assert sample(app, "seqset_height") == 3  # the height follows every block
