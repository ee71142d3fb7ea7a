"""The ABCI application: decodes CometBFT's requests and calls the state machine.

Error policy, per method (STYLE.md §4). A bad request is an expected error (an
AppError, or input the method must refuse); a bug is any other exception, which
`handle` passes to `_on_bug`. Codes come from abci_app.errors.ERROR_CODES, in
the codespace "seqset".

| method                | bad request                            | bug                         |
|-----------------------|----------------------------------------|-----------------------------|
| Echo, Flush, Info     | (none possible)                        | ResponseException, logged   |
| InitChain             | invalid genesis: halt, log names field | halt                        |
| Query                 | its code (60-63), log names the field  | InternalError (71), logged  |
| CheckTx               | its code, log names the field;         | InternalError (71), logged  |
|                       | NotStartedError (70) before block 1    |                             |
| PrepareProposal       | leave the tx (or attested tx) out      | empty proposal, logged      |
| ProcessProposal       | REJECT                                 | REJECT, logged              |
| ExtendVote            | empty extension                        | empty extension, logged     |
| VerifyVoteExtension   | REJECT                                 | REJECT, logged              |
| FinalizeBlock, per tx | that tx's ExecTxResult gets its code   | halt: never commit a state  |
|                       | (InvalidAttestedTx 90); block goes on  | nobody can explain          |
| Commit                | (none possible)                        | halt                        |
| snapshot methods      | REJECT / ABORT / RETRY / empty chunk   | ResponseException, logged   |
| unknown request       | ResponseException                      | -                           |
| gRPC Query service    | status + `seqset-code` trailer (60-63) | INTERNAL + code 71, logged  |
| socket (server/)      | close that connection, logged          | same                        |
"""

import logging
import os
import threading
import time
from collections.abc import Callable

from abci_app import APP_NAME, APP_PROTOCOL_VERSION, __version__, chain, pb
from abci_app.errors import CODESPACE, InternalError, NotStartedError
from abci_app.handlers.blocks import build_block_input, outcome_to_exec_result, to_abci_event
from abci_app.handlers.failpoints import failpoint
from abci_app.handlers.metrics import AppMetrics
from abci_app.handlers.proposals import ProposalHandler
from abci_app.handlers.queries import APP_HASH_BY_HEIGHT, answer_query
from abci_app.handlers.snapshots import SnapshotManager
from abci_app.store.state_store import Overlay, StateStore

log = logging.getLogger("seqset.app")

CHAIN_ID_KEY = b"app/chain_id"


class HaltError(Exception):
    """The app cannot go on without risking an unexplainable state."""


def halt(reason: str) -> None:
    log.critical("HALT: %s", reason)
    logging.shutdown()
    os._exit(70)


class SeqsetApp:
    def __init__(
        self,
        store: StateStore,
        proposals: ProposalHandler,
        snapshots: SnapshotManager | None = None,
        halt_fn: Callable[[str], None] = halt,
    ) -> None:
        self.store = store
        self.proposals = proposals
        self.snapshots = snapshots
        self._halt = halt_fn
        self._block: Overlay | None = None  # FinalizeBlock's working state
        self._block_height = 0
        self._log_height = 0  # the height in FinalizeBlock..Commit, for log lines
        self._check: Overlay = store.overlay()  # the mempool's view
        self._check_params: chain.Params | None = None  # read from `_check` once
        self.stats: dict[str, float] = {}  # counters for metrics; never consensus state
        self.metrics: AppMetrics | None = None  # set when metrics are served
        # Held while a request other than CheckTx is handled; threads reading state
        # (gRPC queries) take it too.
        self.lock = threading.Lock()
        # CheckTx's own: it reads only `_check` and committed state, so it never waits
        # behind FinalizeBlock or a query; Commit takes it to swap `_check`.
        self.mempool_lock = threading.Lock()
        self._chain_id = ""  # cached once committed: it never changes
        self._handlers: dict[str, Callable[[pb.abci.Request], pb.abci.Response]] = {
            "echo": self._echo,
            "flush": lambda _: pb.abci.Response(flush=pb.abci.ResponseFlush()),
            "info": self._info,
            "init_chain": self._init_chain,
            "query": self._query,
            "check_tx": self._check_tx,
            "prepare_proposal": self._prepare_proposal,
            "process_proposal": self._process_proposal,
            "extend_vote": self._extend_vote,
            "verify_vote_extension": self._verify_vote_extension,
            "finalize_block": self._finalize_block,
            "commit": self._commit,
            "list_snapshots": self._snapshot_call,
            "offer_snapshot": self._snapshot_call,
            "load_snapshot_chunk": self._snapshot_call,
            "apply_snapshot_chunk": self._snapshot_call,
        }

    # --- dispatch ----------------------------------------------------------------

    def handle(self, request: pb.abci.Request) -> pb.abci.Response:
        method = request.WhichOneof("value")
        handler = self._handlers.get(method or "")
        if handler is None:
            return pb.abci.Response(
                exception=pb.abci.ResponseException(error=f"unsupported request {method!r}")
            )
        with self.mempool_lock if method == "check_tx" else self.lock:
            try:
                return handler(request)
            except Exception as exc:  # a bug: each method's own policy
                return self._on_bug(method or "", exc)

    def _on_bug(self, method: str, exc: Exception) -> pb.abci.Response:
        log.exception("bug in %s", method)
        if method in ("finalize_block", "commit", "init_chain"):
            self._halt(f"{method} failed: {exc!r}")
            raise HaltError(f"{method} failed") from exc
        fallback = self.proposals.fallback_response(method)
        if fallback is not None:
            return fallback
        if method == "check_tx":
            return pb.abci.Response(check_tx=pb.abci.ResponseCheckTx(
                code=InternalError.code, codespace=CODESPACE, log=f"internal error: {exc!r}"))
        if method == "query":
            return pb.abci.Response(query=pb.abci.ResponseQuery(
                code=InternalError.code, codespace=CODESPACE, log=f"internal error: {exc!r}"))
        return pb.abci.Response(exception=pb.abci.ResponseException(error=repr(exc)))

    def get_log_height(self) -> int:
        """The height being finalized or committed, else the last committed one."""
        return self._log_height or self.store.last_height

    def _count(self, name: str, amount: float = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + amount

    # --- info and genesis ----------------------------------------------------------

    def _echo(self, request: pb.abci.Request) -> pb.abci.Response:
        return pb.abci.Response(echo=pb.abci.ResponseEcho(message=request.echo.message))

    def _info(self, request: pb.abci.Request) -> pb.abci.Response:
        height = self.store.last_height
        log.info("Info: last committed height %d app hash %s", height,
                 self.store.last_app_hash.hex() or "(none)")
        return pb.abci.Response(info=pb.abci.ResponseInfo(
            data=APP_NAME,
            version=__version__,
            app_version=APP_PROTOCOL_VERSION,
            last_block_height=height,
            last_block_app_hash=self.store.last_app_hash,
        ))

    def _init_chain(self, request: pb.abci.Request) -> pb.abci.Response:
        req = request.init_chain
        # An interrupted state-sync restore may have left data behind.
        self.store.wipe()
        overlay = self.store.overlay()
        overlay.set(CHAIN_ID_KEY, req.chain_id.encode())
        genesis_time_ns = req.time.seconds * 1_000_000_000 + req.time.nanos
        updates = chain.init_chain(
            overlay, req.app_state_bytes, req.chain_id, genesis_time_ns, req.initial_height
        )
        app_hash = self.store.compute_app_hash(overlay)
        # The genesis state is committed together with the first block.
        self._block, self._block_height = overlay, req.initial_height - 1
        log.info("InitChain %s: %d validators, genesis app hash %s",
                 req.chain_id, len(updates), app_hash.hex())
        return pb.abci.Response(init_chain=pb.abci.ResponseInitChain(
            validators=[_to_validator_update(u) for u in updates], app_hash=app_hash))

    def chain_id(self) -> str:
        if self._chain_id:
            return self._chain_id
        raw = self.store.get(CHAIN_ID_KEY)
        if raw is not None:
            self._chain_id = raw.decode()
        if raw is None and self._block is not None:
            raw = self._block.get(CHAIN_ID_KEY)
        return raw.decode() if raw else ""

    # --- mempool -------------------------------------------------------------------

    def _check_tx(self, request: pb.abci.Request) -> pb.abci.Response:
        tx = request.check_tx.tx
        if self.store.last_height == 0:
            return pb.abci.Response(check_tx=pb.abci.ResponseCheckTx(
                code=NotStartedError.code, codespace=CODESPACE, log=NotStartedError.describe()))
        if self._check_params is None:  # params change only in a block: once per Commit
            self._check_params = chain.get_params(self._check)
        # A Recheck runs the same checks: its sender recovery is cached (txsign.py).
        outcome = chain.check_tx(self._check, tx, self.chain_id(), self._check_params)
        if self.metrics is not None:
            self.metrics.observe_check_tx(outcome.code)
        if outcome.code != 0:
            self._count("checktx_rejected_total")
            log.debug("CheckTx rejected: code=%d %s", outcome.code, outcome.log)
        return pb.abci.Response(check_tx=pb.abci.ResponseCheckTx(
            code=outcome.code, log=outcome.log, codespace=outcome.codespace if outcome.code else "",
            gas_wanted=1, events=[to_abci_event(e) for e in outcome.events]))

    # --- proposals and vote extensions -----------------------------------------------

    def _wake_feed(self) -> None:
        """ExtendVote follows the proposal: refresh the sidecar snapshot before it."""
        if self.proposals.feed is not None:
            self.proposals.feed.wake()

    def _prepare_proposal(self, request: pb.abci.Request) -> pb.abci.Response:
        self._wake_feed()
        txs = self.proposals.prepare(request.prepare_proposal, self._committed_view(),
                                     self.chain_id())
        return pb.abci.Response(prepare_proposal=pb.abci.ResponsePrepareProposal(txs=txs))

    def _process_proposal(self, request: pb.abci.Request) -> pb.abci.Response:
        self._wake_feed()
        status = self.proposals.process(request.process_proposal, self._committed_view(),
                                        self.chain_id())
        if status != pb.abci.ResponseProcessProposal.ACCEPT:
            self._count("proposals_rejected_total")
        return pb.abci.Response(process_proposal=pb.abci.ResponseProcessProposal(status=status))

    def _extend_vote(self, request: pb.abci.Request) -> pb.abci.Response:
        extension = self.proposals.extend(request.extend_vote, self._committed_view())
        return pb.abci.Response(extend_vote=pb.abci.ResponseExtendVote(vote_extension=extension))

    def _verify_vote_extension(self, request: pb.abci.Request) -> pb.abci.Response:
        status = self.proposals.verify_extension(request.verify_vote_extension,
                                                 self._committed_view())
        if status != pb.abci.ResponseVerifyVoteExtension.ACCEPT:
            self._count("vote_extensions_rejected_total")
        return pb.abci.Response(
            verify_vote_extension=pb.abci.ResponseVerifyVoteExtension(status=status))

    def _committed_view(self) -> Overlay:
        """Committed state, or the genesis state before the first Commit."""
        if self.store.last_height == 0 and self._block is not None:
            return self._block
        return self.store.overlay()

    # --- blocks ------------------------------------------------------------------------

    def _finalize_block(self, request: pb.abci.Request) -> pb.abci.Response:
        started = time.monotonic()
        req = request.finalize_block
        self._log_height = req.height
        overlay = self._committed_view()
        chain_id = self.chain_id()
        attested, user_txs, attested_result = self.proposals.attested_events_for_block(
            req, overlay, chain_id)
        block = build_block_input(req, chain_id, self.store.last_app_hash, attested, user_txs)
        outcome = chain.finalize_block(overlay, block)
        app_hash = self.store.compute_app_hash(overlay)
        tx_results = [outcome_to_exec_result(o) for o in outcome.tx_results]
        if attested_result is not None:
            tx_results.insert(0, attested_result)
        self._block, self._block_height = overlay, req.height
        failpoint("finalize-done", req.height)
        ok = sum(1 for r in tx_results if r.code == 0)
        elapsed = time.monotonic() - started
        self._count("blocks_finalized_total")
        self._count("txs_ok_total", ok)
        self._count("txs_failed_total", len(tx_results) - ok)
        self._count("l1_events_applied_total", len(attested.events))
        self._count("finalize_seconds_total", elapsed)
        if self.metrics is not None:
            self.metrics.observe_finalize(elapsed, ok, len(tx_results) - ok, len(attested.events))
        log.info("finalized height=%d txs=%d ok=%d l1_events=%d validator_updates=%d "
                 "app_hash=%s ms=%d", req.height, len(tx_results), ok, len(attested.events),
                 len(outcome.validator_updates), app_hash.hex()[:16],
                 elapsed * 1000)
        return pb.abci.Response(finalize_block=pb.abci.ResponseFinalizeBlock(
            events=[to_abci_event(e) for e in outcome.events],
            tx_results=tx_results,
            validator_updates=[_to_validator_update(u) for u in outcome.validator_updates],
            app_hash=app_hash,
        ))

    def _commit(self, request: pb.abci.Request) -> pb.abci.Response:
        if self._block is None:
            raise HaltError("Commit without a finalized block")
        height = self._block_height
        started = time.monotonic()
        failpoint("commit-before-write", height)
        app_hash = self.store.compute_app_hash(self._block)
        # CometBFT locks its mempool around Commit; our lock also keeps a CheckTx
        # from reading a half-written store.
        with self.mempool_lock:
            self.store.commit(self._block, height,
                              local={APP_HASH_BY_HEIGHT + height.to_bytes(8, "big"): app_hash})
            self._check, self._check_params = self.store.overlay(), None
        failpoint("commit-after-write", height)
        self._block, self._log_height = None, 0
        self.proposals.note_commit(self.store.overlay())
        if self.metrics is not None:
            try:  # the block is already written: a metrics bug must not fail Commit
                self.metrics.observe_commit(self.store.overlay(), height,
                                            time.monotonic() - started, self.stats)
            except Exception:  # noqa: BLE001
                log.exception("metrics at Commit of height %d failed", height)
        if self.snapshots is not None:
            try:
                self.snapshots.maybe_take(self.store, height)
            except OSError as exc:  # the block is committed; a missing snapshot is not fatal
                log.error("snapshot at height %d failed: %s", height, exc)
        return pb.abci.Response(commit=pb.abci.ResponseCommit(retain_height=0))

    # --- queries and snapshots -----------------------------------------------------------

    def _query(self, request: pb.abci.Request) -> pb.abci.Response:
        return pb.abci.Response(query=answer_query(self.store, request.query))

    def _snapshot_call(self, request: pb.abci.Request) -> pb.abci.Response:
        if self.snapshots is None:
            return _no_snapshots(request)
        return self.snapshots.handle(self.store, request)


def _to_validator_update(update: chain.ValidatorUpdate) -> pb.abci.ValidatorUpdate:
    return pb.abci.ValidatorUpdate(
        pub_key=pb.crypto_keys.PublicKey(ed25519=update.pub_key), power=update.power)


def _no_snapshots(request: pb.abci.Request) -> pb.abci.Response:
    method = request.WhichOneof("value")
    if method == "list_snapshots":
        return pb.abci.Response(list_snapshots=pb.abci.ResponseListSnapshots())
    if method == "offer_snapshot":
        return pb.abci.Response(offer_snapshot=pb.abci.ResponseOfferSnapshot(
            result=pb.abci.ResponseOfferSnapshot.REJECT))
    if method == "load_snapshot_chunk":
        return pb.abci.Response(load_snapshot_chunk=pb.abci.ResponseLoadSnapshotChunk())
    return pb.abci.Response(apply_snapshot_chunk=pb.abci.ResponseApplySnapshotChunk(
        result=pb.abci.ResponseApplySnapshotChunk.ABORT))
