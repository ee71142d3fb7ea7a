"""PrepareProposal, ProcessProposal, ExtendVote and VerifyVoteExtension.

The relay's pure functions decide; this module feeds them the right inputs:
the validator set that signed H-1 (updates take effect two heights late), our
own sidecar's view for ExtendVote (an in-memory snapshot, see sidecar_feed.py),
and the last applied L1 nonce.
"""

import logging
from collections.abc import Sequence
from typing import TypeAlias

from abci_app import chain, pb
from abci_app.handlers.sidecar_feed import SidecarFeed
from abci_app.relay.attested_tx import (
    InvalidAttestedTx,
    build_attested_tx,
    decode_attested_tx,
    find_misplaced_attested_tx,
    is_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.extension import build_extension, verify_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import (
    compute_supporting_commit,
    prune_extended_commit,
    tally_events,
)
from abci_app.server.framing import encode_uvarint
from abci_app.store.kv import KVStore

log = logging.getLogger("seqset.proposals")

ProposalStatus: TypeAlias = pb.abci.ResponseProcessProposal.ProposalStatus.ValueType
VerifyStatus: TypeAlias = pb.abci.ResponseVerifyVoteExtension.VerifyStatus.ValueType
ACCEPT_PROPOSAL = pb.abci.ResponseProcessProposal.ACCEPT
REJECT_PROPOSAL = pb.abci.ResponseProcessProposal.REJECT
ACCEPT_EXTENSION = pb.abci.ResponseVerifyVoteExtension.ACCEPT
REJECT_EXTENSION = pb.abci.ResponseVerifyVoteExtension.REJECT


class ProposalHandler:
    def __init__(self, feed: SidecarFeed | None = None) -> None:
        self.feed = feed

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
            last_applied = chain.get_last_applied_l1_nonce(kv)
            pruned = prune_extended_commit(
                req.local_last_commit, valset, req.height - 1, chain_id, params)
            events = tally_events(pruned, valset, last_applied, params)
            if not events:
                return None
            tx = build_attested_tx(pruned, events, params)
            if tx is None:
                # Too many extensions to carry: keep only a 2/3 that attests them all.
                smaller = compute_supporting_commit(pruned, valset, events, params)
                tx = None if smaller is None else build_attested_tx(smaller, events, params)
        except Exception:
            log.exception("PrepareProposal: no attested-events tx, proposing without one")
            return None
        if tx is not None:
            log.info("PrepareProposal height=%d: %d attested L1 events (nonces %d..%d)",
                     req.height, len(events), events[0].nonce, events[-1].nonce)
        return tx

    # --- ProcessProposal ------------------------------------------------------------

    def process(
        self, req: pb.abci.RequestProcessProposal, kv: KVStore, chain_id: str
    ) -> ProposalStatus:
        txs = list(req.txs)
        if txs and is_attested_tx(txs[0]):
            try:
                verify_attested_tx(
                    txs[0], req.proposed_last_commit, chain.get_validator_set(kv, req.height - 1),
                    int(req.height), chain_id, chain.get_last_applied_l1_nonce(kv),
                    get_relay_params(kv))
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
    ) -> tuple[list[pb.events.L1Event], list[bytes], pb.abci.ExecTxResult | None]:
        """Splits off the attested-events tx and re-verifies it against the decided commit.

        The block is decided, so a failure here cannot reject it: the tx gets
        an error code and its events are not applied.
        """
        txs = list(req.txs)
        if not txs or not is_attested_tx(txs[0]):
            return [], txs, None
        try:
            events = verify_attested_tx(
                txs[0], req.decided_last_commit, chain.get_validator_set(kv, req.height - 1),
                int(req.height), chain_id, chain.get_last_applied_l1_nonce(kv),
                get_relay_params(kv))
        except InvalidAttestedTx as exc:
            log.error("attested-events tx in decided block %d is invalid: %s", req.height, exc)
            result = pb.abci.ExecTxResult(code=ATTESTED_TX_INVALID_CODE, codespace="seqset",
                                          log=f"invalid attested-events tx: {exc}")
            return [], txs[1:], result
        return events, txs[1:], pb.abci.ExecTxResult(
            code=0, log=f"applied {len(events)} attested L1 events")

    # --- vote extensions ---------------------------------------------------------------

    def extend(self, req: pb.abci.RequestExtendVote, kv: KVStore) -> bytes:
        """Our extension from the feed's snapshot: no I/O, so the event loop never waits."""
        if self.feed is None:
            return b""
        params = get_relay_params(kv)
        last_applied = chain.get_last_applied_l1_nonce(kv)
        # After a restart or a state-sync restore no Commit has told the feed yet.
        self.feed.note_committed(last_applied, params)
        after = last_applied + _events_in_block(req.txs)
        return build_extension(self.feed.get_observed(), after, params)

    def note_commit(self, kv: KVStore) -> None:
        """Points the feed after the newly committed nonce, so it refreshes before ExtendVote."""
        if self.feed is None:
            return
        try:
            self.feed.note_committed(chain.get_last_applied_l1_nonce(kv), get_relay_params(kv))
        except Exception:  # the block is committed; a stale feed only means fewer events
            log.exception("could not point the sidecar feed at the committed L1 nonce")

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
    )


def compute_tx_proto_size(tx: bytes) -> int:
    """Bytes a tx takes in CometBFT's max_tx_bytes accounting (types.ComputeProtoSizeForTxs)."""
    return 1 + len(encode_uvarint(len(tx))) + len(tx)


def _events_in_block(txs: Sequence[bytes]) -> int:
    """How many L1 events the block being voted on applies (already verified)."""
    if not txs or not is_attested_tx(txs[0]):
        return 0
    decoded = decode_attested_tx(txs[0])
    return 0 if decoded is None else len(decoded.events)

