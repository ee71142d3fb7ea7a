"""The app's metrics: counted at FinalizeBlock and CheckTx, read from state at Commit.

A scrape only renders the registry; it never reads state. The state gauges
are read once per Commit, from the state just committed, under the app's lock,
in O(validators): the chain state, the latest validator set with each
validator's signing window, the current epoch's schedule and the batch in
flight. Jailed sequencers are counted over the validators plus the sequencers
watched before (the previous validators, who may have just been jailed, and
those seen jailed); the first Commit after a start reads every sequencer once
to find those jailed while the node was down.
"""

import time
from dataclasses import dataclass
from typing import Any

from abci_app.chain import keys
from abci_app.chain.l2 import get_l2_head
from abci_app.chain.messages import state
from abci_app.chain.schedule import get_current_producer, get_epoch_schedule
from abci_app.chain.settlement import get_in_flight_batch
from abci_app.chain.state import JAILED, get_chain_state, get_record, get_sequencer, get_sequencers
from abci_app.chain.validators import get_latest_validator_set
from abci_app.errors import ERROR_CODES
from abci_app.node.metrics import APP, Registry
from abci_app.settlement import decode_batch
from abci_app.store.kv import KVStore

OK_CODE_NAME = "ok"


def compute_code_name(code: int) -> str:
    """CheckTx's code as its name in abci_app.errors' table ("ok" for 0)."""
    if code == 0:
        return OK_CODE_NAME
    entry = ERROR_CODES.get(code)
    return entry[0] if entry is not None else f"code_{code}"


@dataclass(frozen=True, slots=True)
class CommitSnapshot:
    """What the state gauges show after one Commit."""

    height: int
    epoch: int
    producer: int
    l1_applied_nonce: int
    l1_attested_height: int
    l2_attested_height: int
    missed_blocks: dict[int, int]  # per validator's sequencer id
    power: dict[int, int]
    jailed_ids: frozenset[int]
    in_flight_nonce: int
    in_flight_formed_height: int
    last_settled_nonce: int


def get_jailed_ids(kv: KVStore, candidates: set[int] | None) -> frozenset[int]:
    """The jailed among `candidates` (None: among every sequencer)."""
    if candidates is None:
        return frozenset(int(s.id) for s in get_sequencers(kv) if s.status == JAILED)
    jailed = set()
    for sequencer_id in sorted(candidates):
        seq = get_sequencer(kv, sequencer_id)
        if seq is not None and seq.status == JAILED:
            jailed.add(sequencer_id)
    return frozenset(jailed)


def get_commit_snapshot(kv: KVStore, height: int, watched: frozenset[int] | None
                        ) -> CommitSnapshot:
    """`watched`: the ids the previous snapshot watched (None: read every sequencer)."""
    chain = get_chain_state(kv)
    validators = get_latest_validator_set(kv)
    missed: dict[int, int] = {}
    for entry in validators:
        info = get_record(kv, keys.signing_info_key(entry.sequencer_id), state.SigningInfo)
        missed[entry.sequencer_id] = 0 if info is None else int(info.missed_blocks)
    schedule = get_epoch_schedule(kv, int(chain.current_epoch))
    candidates = None if watched is None else set(watched) | set(missed)
    batch = get_in_flight_batch(kv)
    l2_head = get_l2_head(kv)
    return CommitSnapshot(
        height=height, epoch=int(chain.current_epoch),
        producer=0 if schedule is None else get_current_producer(schedule),
        l1_applied_nonce=int(chain.last_l1_nonce),
        l1_attested_height=int(chain.l1_confirmed_height),
        l2_attested_height=0 if l2_head is None else l2_head[0],
        missed_blocks=missed, power={e.sequencer_id: e.power for e in validators},
        jailed_ids=get_jailed_ids(kv, candidates),
        in_flight_nonce=0 if batch is None else int(batch.nonce),
        in_flight_formed_height=0 if batch is None else int(batch.formed_height),
        last_settled_nonce=int(chain.last_settled_batch_nonce))


class AppMetrics:
    """The app's registry and what feeds it; every method runs on the ABCI thread."""

    def __init__(self, snapshot_interval_s: float = 0.0) -> None:
        """`snapshot_interval_s`: the least time between two reads of the committed state
        (height and latencies are recorded every Commit), so that a node replaying or racing
        through blocks pays for the state metrics about once per scrape, not once per block."""
        self.registry = Registry(APP)
        self.snapshot_interval_s = snapshot_interval_s
        self._last_snapshot_at: float | None = None
        self._watched: frozenset[int] | None = None  # None until the first Commit's full read
        self._batch_items: tuple[int, int] = (0, 0)  # (nonce, items): decoded once per batch
        for name in ("seqset_proposals_rejected_total", "seqset_vote_extensions_rejected_total",
                     "seqset_blocks_finalized_total", "seqset_txs_ok_total",
                     "seqset_txs_failed_total", "seqset_l1_events_attested_total"):
            self.registry[name].set(0)  # present from the first scrape

    def observe_check_tx(self, code: int) -> None:
        # The label is the code's name (a `code=` keyword here would read as an ABCI code).
        labels: dict[str, Any] = {"code": compute_code_name(code)}
        self.registry["seqset_checktx_total"].inc(**labels)

    def observe_finalize(self, seconds: float, txs_ok: int, txs_failed: int,
                         l1_events: int) -> None:
        r = self.registry
        r.histogram("seqset_finalize_block_seconds").observe(seconds)
        r["seqset_blocks_finalized_total"].inc()
        r["seqset_txs_ok_total"].inc(txs_ok)
        r["seqset_txs_failed_total"].inc(txs_failed)
        r["seqset_l1_events_attested_total"].inc(l1_events)

    def observe_commit(self, kv: KVStore, height: int, seconds: float,
                       stats: dict[str, float]) -> None:
        """`kv` is the state just committed; `stats` the app's own counters."""
        r = self.registry
        r.histogram("seqset_commit_seconds").observe(seconds)
        r["seqset_proposals_rejected_total"].set(stats.get("proposals_rejected_total", 0))
        r["seqset_vote_extensions_rejected_total"].set(
            stats.get("vote_extensions_rejected_total", 0))
        r["seqset_height"].set(height)
        now = time.monotonic()  # not consensus: only paces this node's own metrics
        if (self._last_snapshot_at is not None
                and now - self._last_snapshot_at < self.snapshot_interval_s):
            return
        self._last_snapshot_at = now
        snap = get_commit_snapshot(kv, height, self._watched)
        self._watched = snap.jailed_ids | frozenset(snap.power)
        self.record_snapshot(snap, self._get_batch_items(kv, snap.in_flight_nonce))

    def _get_batch_items(self, kv: KVStore, nonce: int) -> int:
        if nonce == 0:
            return 0
        if self._batch_items[0] != nonce:
            batch = get_in_flight_batch(kv)
            items = 0 if batch is None else decode_batch(bytes(batch.batch)).item_count
            self._batch_items = (nonce, items)
        return self._batch_items[1]

    def record_snapshot(self, snap: CommitSnapshot, batch_items: int) -> None:
        r = self.registry
        for name, value in (
            ("seqset_height", snap.height), ("seqset_epoch", snap.epoch),
            ("seqset_producer", snap.producer),
            ("seqset_l1_events_applied", snap.l1_applied_nonce),
            ("seqset_l1_attested_height", snap.l1_attested_height),
            ("seqset_l2_attested_height", snap.l2_attested_height),
            ("seqset_validators", len(snap.power)),
            ("seqset_sequencers_jailed", len(snap.jailed_ids)),
            ("seqset_settlement_pending_batches", 1 if snap.in_flight_nonce else 0),
            ("seqset_settlement_pending_items", batch_items),
            ("seqset_settlement_in_flight_blocks",
             snap.height - snap.in_flight_formed_height if snap.in_flight_nonce else 0),
            ("seqset_settlement_last_settled_nonce", snap.last_settled_nonce),
        ):
            r[name].set(value)
        r["seqset_validator_missed_blocks"].replace(
            {(str(k),): v for k, v in sorted(snap.missed_blocks.items())})
        r["seqset_validator_power"].replace(
            {(str(k),): v for k, v in sorted(snap.power.items())})

    def render(self) -> str:
        return self.registry.render()
