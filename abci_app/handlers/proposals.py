"""PrepareProposal, ProcessProposal, ExtendVote and VerifyVoteExtension.

The relay's pure functions decide; this module feeds them the right inputs:
the validator set that signed H-1 (updates take effect two heights late), our
own sidecar's view for ExtendVote (an in-memory snapshot, see sidecar_feed.py),
and what committed state says comes next (get_relay_view: the last applied L1
nonce, the attested L2 head, the seed request, the attested L1 height, and the
in-flight settlement batch with the stored signer behind each validator).

ExtendVote also signs the in-flight batch's digest with our sequencer's L1
signer key, when we have one. It signs the batch of committed state: if the
block being voted on settles it, the signature is merely stale, never wrong.
"""

import logging
from collections.abc import Sequence
from typing import TypeAlias

from abci_app import chain, pb
from abci_app.chain.settlement import get_in_flight_batch
from abci_app.chain.state import get_sequencer
from abci_app.handlers.sidecar_feed import SidecarFeed
from abci_app.relay.attested_tx import (
    InvalidAttestedTx,
    build_attested_tx,
    compute_attested_fit,
    decode_attested_parts,
    decode_attested_tx,
    find_misplaced_attested_tx,
    is_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension, verify_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.settlement_checks import encode_settlement_signature
from abci_app.relay.tally import (
    compute_supporting_commit,
    prune_extended_commit,
    tally_attested,
)
from abci_app.relay.types import Attested, RelayView, SettlementView
from abci_app.server.framing import encode_uvarint
from abci_app.settlement import sign_digest
from abci_app.store.kv import KVStore
from abci_app.valset import ValidatorEntry

log = logging.getLogger("seqset.proposals")

ProposalStatus: TypeAlias = pb.abci.ResponseProcessProposal.ProposalStatus.ValueType
VerifyStatus: TypeAlias = pb.abci.ResponseVerifyVoteExtension.VerifyStatus.ValueType
ACCEPT_PROPOSAL = pb.abci.ResponseProcessProposal.ACCEPT
REJECT_PROPOSAL = pb.abci.ResponseProcessProposal.REJECT
ACCEPT_EXTENSION = pb.abci.ResponseVerifyVoteExtension.ACCEPT
REJECT_EXTENSION = pb.abci.ResponseVerifyVoteExtension.REJECT


class ProposalHandler:
    """`settlement_key`: our sequencer's 32-byte secp256k1 L1 signer key (None: never sign)."""

    def __init__(
        self, feed: SidecarFeed | None = None, settlement_key: bytes | None = None
    ) -> None:
        self.feed = feed
        self.settlement_key = settlement_key
        self._signed: tuple[int, bytes, bytes] | None = None  # (nonce, digest, signature)

    # --- PrepareProposal ------------------------------------------------------------

    def prepare(
        self, req: pb.abci.RequestPrepareProposal, kv: KVStore, chain_id: str
    ) -> list[bytes]:
        budget = int(req.max_tx_bytes)
        txs: list[bytes] = []
        attested = self._build_attested(req, kv, chain_id)
        if attested is not None and compute_tx_proto_size(attested) <= budget:
            txs.append(attested)
            budget -= compute_tx_proto_size(attested)
        for tx in req.txs:
            # The injected transaction is ours alone to place, and only first.
            if is_attested_tx(tx) or compute_tx_proto_size(tx) > budget:
                continue
            txs.append(tx)
            budget -= compute_tx_proto_size(tx)
        return txs

    def _build_attested(
        self, req: pb.abci.RequestPrepareProposal, kv: KVStore, chain_id: str
    ) -> bytes | None:
        if req.height <= 1 or not req.local_last_commit.votes:
            return None
        try:
            params = get_relay_params(kv)
            valset = chain.get_validator_set(kv, req.height - 1)
            view = get_relay_view(kv, valset)
            pruned = prune_extended_commit(
                req.local_last_commit, valset, req.height - 1, chain_id, params)
            attested = tally_attested(pruned, valset, view, params)
            if attested.is_empty():
                return None
            commit, carried = pruned, compute_attested_fit(pruned, attested, params)
            if carried is None or carried.count_parts() < attested.count_parts():
                # Too many extensions to carry: keep only a 2/3 that attests it all.
                smaller = compute_supporting_commit(pruned, valset, attested, params)
                if smaller is not None:
                    # Fewer votes report the L1 height: re-tally it from what is kept.
                    retallied = tally_attested(smaller, valset, view, params)
                    fitted = compute_attested_fit(smaller, retallied, params)
                    if fitted is not None and (carried is None or
                                               fitted.count_parts() > carried.count_parts()):
                        commit, carried = smaller, fitted
            tx = None if carried is None else build_attested_tx(commit, carried, params)
        except Exception:
            log.exception("PrepareProposal: no attested-events tx, proposing without one")
            return None
        if tx is not None and carried is not None:
            log.info("PrepareProposal height=%d: attested %s", req.height, describe(carried))
        return tx

    # --- ProcessProposal ------------------------------------------------------------

    def process(
        self, req: pb.abci.RequestProcessProposal, kv: KVStore, chain_id: str
    ) -> ProposalStatus:
        txs = list(req.txs)
        if txs and is_attested_tx(txs[0]):
            valset = chain.get_validator_set(kv, req.height - 1)
            try:
                verify_attested_tx(
                    txs[0], req.proposed_last_commit, valset, int(req.height), chain_id,
                    get_relay_view(kv, valset), get_relay_params(kv))
            except InvalidAttestedTx as exc:
                log.warning("REJECT proposal at height %d: %s", req.height, exc)
                return REJECT_PROPOSAL
            txs = txs[1:]
        if find_misplaced_attested_tx(txs):
            log.warning("REJECT proposal at height %d: attested-events tx not first", req.height)
            return REJECT_PROPOSAL
        return ACCEPT_PROPOSAL

    # --- FinalizeBlock's share -------------------------------------------------------

    def attested_events_for_block(
        self, req: pb.abci.RequestFinalizeBlock, kv: KVStore, chain_id: str
    ) -> tuple[Attested, list[bytes], pb.abci.ExecTxResult | None]:
        """Splits off the attested tx and re-verifies it against the decided commit.

        Returns every attested part (events, L2 headers, seed randomness, L1
        height, settlement signatures with recovered signers). The block is
        decided, so a failure here cannot reject it: the tx gets an error code
        and nothing in it is applied.
        """
        txs = list(req.txs)
        if not txs or not is_attested_tx(txs[0]):
            return Attested(), txs, None
        valset = chain.get_validator_set(kv, req.height - 1)
        try:
            attested = verify_attested_tx(
                txs[0], req.decided_last_commit, valset, int(req.height), chain_id,
                get_relay_view(kv, valset), get_relay_params(kv))
        except InvalidAttestedTx as exc:
            log.error("attested-events tx in decided block %d is invalid: %s", req.height, exc)
            result = pb.abci.ExecTxResult(code=ATTESTED_TX_INVALID_CODE, codespace="seqset",
                                          log=f"invalid attested-events tx: {exc}")
            return Attested(), txs[1:], result
        return attested, txs[1:], pb.abci.ExecTxResult(code=0, log=f"applied {describe(attested)}")

    # --- vote extensions ---------------------------------------------------------------

    def extend(self, req: pb.abci.RequestExtendVote, kv: KVStore) -> bytes:
        """Our extension from the feed's snapshot: no I/O, so the event loop never waits.

        Without a feed it carries only our settlement signature (if any).
        """
        params = get_relay_params(kv)
        signature = self._sign_pending_settlement(kv)
        if self.feed is None:
            return build_extension((), 0, params, settlement_signature=signature)
        view = get_relay_view(kv)
        # After a restart or a state-sync restore no Commit has told the feed yet.
        self.feed.note_committed(view, params)
        after = compute_view_after_block(view, req.txs)
        observed = self.feed.get_observed()
        return build_extension(
            observed.events, after.last_applied_nonce, params, l2_headers=observed.l2_headers,
            l2_head=after.l2_head, randomness=observed.randomness, seed_request=after.seed_request,
            l1_confirmed_height=observed.confirmed_l1_height, settlement_signature=signature)

    def _sign_pending_settlement(self, kv: KVStore) -> pb.relay.SettlementSignature | None:
        """Our signature over the committed in-flight batch; None without a key or a batch."""
        if self.settlement_key is None:
            return None
        try:
            pending = chain.get_pending_settlement(kv)
            if pending is None:
                return None
            nonce, digest = pending
            if self._signed is None or self._signed[:2] != (nonce, digest):
                signed = encode_settlement_signature(sign_digest(digest, self.settlement_key))
                self._signed = (nonce, digest, signed)
            return pb.relay.SettlementSignature(batch_nonce=nonce, signature=self._signed[2])
        except Exception:  # a bad key or a bug costs our signature, never the vote
            log.exception("ExtendVote: no settlement signature")
            return None

    def note_commit(self, kv: KVStore) -> None:
        """Points the feed after the newly committed state, so it refreshes before ExtendVote."""
        if self.feed is None:
            return
        try:
            self.feed.note_committed(get_relay_view(kv), get_relay_params(kv))
        except Exception:  # the block is committed; a stale feed only means less attested
            log.exception("could not point the sidecar feed at the committed state")

    def verify_extension(
        self, req: pb.abci.RequestVerifyVoteExtension, kv: KVStore
    ) -> VerifyStatus:
        ok = verify_extension(req.vote_extension, get_relay_params(kv))
        if not ok:
            log.warning("REJECT vote extension from %s at height %d (%d bytes)",
                        req.validator_address.hex(), req.height, len(req.vote_extension))
        return ACCEPT_EXTENSION if ok else REJECT_EXTENSION

    def fallback_response(self, method: str) -> pb.abci.Response | None:
        """What a bug in one of these methods answers: never UNKNOWN, never a crash."""
        if method == "prepare_proposal":
            return pb.abci.Response(prepare_proposal=pb.abci.ResponsePrepareProposal())
        if method == "process_proposal":
            return pb.abci.Response(process_proposal=pb.abci.ResponseProcessProposal(
                status=REJECT_PROPOSAL))
        if method == "extend_vote":
            return pb.abci.Response(extend_vote=pb.abci.ResponseExtendVote())
        if method == "verify_vote_extension":
            return pb.abci.Response(verify_vote_extension=pb.abci.ResponseVerifyVoteExtension(
                status=REJECT_EXTENSION))
        return None


ATTESTED_TX_INVALID_CODE = InvalidAttestedTx.code


def get_relay_params(kv: KVStore) -> RelayParams:
    """The relay's limits, from the chain's genesis parameters."""
    params = chain.get_params(kv)
    return RelayParams(
        max_events_per_extension=params.max_events_per_extension,
        max_extension_bytes=params.max_extension_bytes,
        max_attested_tx_bytes=params.max_attested_tx_bytes,
        max_l2_headers_per_extension=params.max_l2_headers_per_extension,
    )


def get_relay_view(kv: KVStore, valset: Sequence[ValidatorEntry] = ()) -> RelayView:
    """What committed state says the relay attests next.

    With `valset` (the set that voted), also the in-flight settlement batch.
    """
    return RelayView(
        last_applied_nonce=chain.get_last_applied_l1_nonce(kv),
        l2_head=chain.get_l2_head(kv),
        seed_request=chain.get_seed_request(kv),
        l1_confirmed_height=chain.get_attested_l1_height(kv),
        settlement=get_settlement_view(kv, valset) if valset else None,
    )


def get_settlement_view(
    kv: KVStore, valset: Sequence[ValidatorEntry]
) -> SettlementView | None:
    """The in-flight batch, each validator's stored signer, and who already signed."""
    pending = chain.get_pending_settlement(kv)
    batch = get_in_flight_batch(kv)
    if pending is None or batch is None:
        return None
    signer_by_address: dict[bytes, bytes] = {}
    for entry in valset:
        sequencer = get_sequencer(kv, entry.sequencer_id)
        if sequencer is not None:
            signer_by_address[entry.address] = bytes(sequencer.signer)
    return SettlementView(
        nonce=pending[0], digest=pending[1], signer_by_address=signer_by_address,
        collected_signers=frozenset(bytes(sig.signer) for sig in batch.signatures))


def compute_tx_proto_size(tx: bytes) -> int:
    """Bytes a tx takes in CometBFT's max_tx_bytes accounting (types.ComputeProtoSizeForTxs)."""
    return 1 + len(encode_uvarint(len(tx))) + len(tx)


def compute_view_after_block(view: RelayView, txs: Sequence[bytes]) -> RelayView:
    """`view` once the block being voted on (already verified) applies its attested tx.

    Its events and headers move the windows on. If it carries the requested
    randomness, the next request is unknown until the block executes: ask for none.
    """
    if not txs or not is_attested_tx(txs[0]):
        return view
    body = decode_attested_tx(txs[0])
    if body is None:
        return view
    parts = decode_attested_parts(body)
    head = view.l2_head
    if head is not None and parts.l2_headers:
        last = parts.l2_headers[-1]
        head = (int(last.height), bytes(last.hash))
    seed_request = 0 if parts.seed_randomness is not None else view.seed_request
    return RelayView(last_applied_nonce=view.last_applied_nonce + len(parts.events),
                     l2_head=head, seed_request=seed_request,
                     l1_confirmed_height=max(view.l1_confirmed_height,
                                             parts.l1_confirmed_height))


def describe(attested: Attested) -> str:
    """One log line's worth: what an attested tx carries."""
    parts = []
    if attested.events:
        parts.append(f"{len(attested.events)} L1 events (nonces {attested.events[0].nonce}.."
                     f"{attested.events[-1].nonce})")
    if attested.l2_headers:
        parts.append(f"{len(attested.l2_headers)} L2 headers (heights "
                     f"{attested.l2_headers[0].height}..{attested.l2_headers[-1].height})")
    if attested.seed_randomness is not None:
        parts.append(f"randomness of L1 block {attested.seed_randomness.l1_height}")
    if attested.l1_confirmed_height:
        parts.append(f"L1 confirmed height {attested.l1_confirmed_height}")
    if attested.settlement_signatures:
        parts.append(f"{len(attested.settlement_signatures)} signatures of settlement batch "
                     f"{attested.settlement_signatures[0].batch_nonce}")
    return ", ".join(parts) or "nothing"
