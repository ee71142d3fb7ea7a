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

    The chain then applies exactly the events after that nonce. Sequencers
    already unlocking or exited at `block` hold no power and are left out.
    """
    records = get_all_sequencers(dep, block)
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
