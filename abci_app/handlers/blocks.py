"""Translation between CometBFT's block messages and the state machine's types."""

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from abci_app import chain, pb
from abci_app.relay.types import Attested

_MISBEHAVIOR_KINDS = {
    pb.abci.DUPLICATE_VOTE: "duplicate_vote",
    pb.abci.LIGHT_CLIENT_ATTACK: "light_client_attack",
}


def timestamp_ns(ts: Timestamp) -> int:
    return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)


def build_block_input(
    req: pb.abci.RequestFinalizeBlock,
    chain_id: str,
    last_app_hash: bytes,
    attested: Attested,
    user_txs: Sequence[bytes],
) -> chain.BlockInput:
    """The state machine's view of a decided block; `attested` is verified relay output."""
    votes = [
        chain.VoteInfo(
            address=bytes(v.validator.address),
            power=int(v.validator.power),
            present=v.block_id_flag != pb.validator.BLOCK_ID_FLAG_ABSENT,
        )
        for v in req.decided_last_commit.votes
    ]
    misbehavior = [
        chain.Misbehavior(
            kind=_MISBEHAVIOR_KINDS.get(m.type, "unknown"),
            address=bytes(m.validator.address),
            height=int(m.height),
            time_ns=timestamp_ns(m.time),
            total_voting_power=int(m.total_voting_power),
        )
        for m in req.misbehavior
    ]
    return chain.BlockInput(
        height=int(req.height),
        time_ns=timestamp_ns(req.time),
        chain_id=chain_id,
        proposer_address=bytes(req.proposer_address),
        last_app_hash=last_app_hash,
        decided_last_commit=votes,
        misbehavior=misbehavior,
        l1_events=list(attested.events),
        txs=list(user_txs),
        l2_headers=list(attested.l2_headers),
        seed_randomness=attested.seed_randomness,
        l1_confirmed_height=attested.l1_confirmed_height,
        settlement_signatures=[(item.signer, item.signature)
                               for item in attested.settlement_signatures],
    )


def to_abci_event(event: chain.Event) -> pb.abci.Event:
    return pb.abci.Event(
        type=event.type,
        attributes=[
            pb.abci.EventAttribute(key=k, value=v, index=True) for k, v in event.attributes
        ],
    )


def outcome_to_exec_result(outcome: chain.TxOutcome) -> pb.abci.ExecTxResult:
    return pb.abci.ExecTxResult(
        code=outcome.code,
        log=outcome.log,
        codespace=outcome.codespace if outcome.code else "",
        events=[to_abci_event(e) for e in outcome.events],
    )
