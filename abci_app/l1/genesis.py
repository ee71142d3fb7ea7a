"""`seqset genesis from-l1`: the initial sequencer set, from the Locking contract at one block."""

from typing import Any

from abci_app import chain
from abci_app.l1.contract import (
    LockingDeployment,
    SequencerStatus,
    get_all_sequencers,
    get_event_nonce,
)


def build_app_state_from_l1(
    dep: LockingDeployment, block: int, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Active sequencers at `block` and the contract's event nonce there.

    The chain then applies exactly the events after that nonce. Genesis
    carries locks only, so a block with stake on its way out (a pending
    withdrawal or an unlock) is refused: the chain could not account for it.
    Exited sequencers hold nothing and are left out.
    """
    records = get_all_sequencers(dep, block)
    unlocking = [r.sequencer_id for r in records if r.status == SequencerStatus.UNLOCKING]
    pending = int(dep.locking.functions.totalPending().call(block_identifier=block))
    if unlocking or pending:
        raise ValueError(
            f"L1 block {block} has stake in flight (unlocking sequencers {unlocking}, "
            f"{pending} wei in pending withdrawals): pick a block before any withdrawal "
            "request, or one after every pending amount was claimed")
    sequencers = [
        {
            "id": r.sequencer_id,
            "owner": r.owner.lower(),
            "signer": r.signer.lower(),
            "consensus_pubkey": r.consensus_key,
            "locked_wei": r.amount_wei,
        }
        for r in records
        if r.status == SequencerStatus.ACTIVE
    ]
    if not sequencers:
        raise ValueError(f"no active sequencer on L1 at block {block}: a chain needs validators")
    app_state = chain.make_genesis_app_state(sequencers, params)
    app_state["last_l1_nonce"] = get_event_nonce(dep, block)
    return app_state
