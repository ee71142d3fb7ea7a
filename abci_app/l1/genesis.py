"""`seqset genesis from-l1`: the initial sequencer set and the shared parameters, from the
Locking contract at one block."""

from collections.abc import Mapping
from typing import Any

from abci_app import chain
from abci_app.l1.contract import (
    LockingDeployment,
    SequencerStatus,
    get_all_sequencers,
    get_event_nonce,
    get_lock_params,
)


def get_l1_params(dep: LockingDeployment, block: int) -> dict[str, int | str]:
    """The genesis params whose one source is L1: the lock parameters at `block`, and the
    chain id and contract address that settlement batches are bound to."""
    lock_params = get_lock_params(dep, block)
    return {
        "min_lock_wei": str(lock_params.min_lock_wei),
        "max_lock_wei": str(lock_params.max_lock_wei),
        "withdrawal_delay_s": lock_params.withdrawal_delay_s,
        "l1_chain_id": int(dep.w3.eth.chain_id),
        "l1_contract_address": dep.locking_address.lower(),
    }


def _canonical(value: object) -> object:
    """Compares a --params value with L1's: decimal strings as ints, addresses lowercase."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return int(value)
        return value.lower()
    return value


def compute_params_with_l1(params: Mapping[str, Any] | None,
                           l1_params: Mapping[str, int | str]) -> dict[str, Any]:
    """`params` plus L1's values; a value in `params` that disagrees with L1 is refused
    (both sides enforce these, so two sources would let them drift apart)."""
    merged = dict(params or {})
    for name, value in l1_params.items():
        if name in merged and _canonical(merged[name]) != _canonical(value):
            raise ValueError(
                f"params.{name} is {merged[name]!r} but the Locking contract says {value!r}: "
                f"L1 is the one source of {name}; drop it from the params file")
        merged[name] = value
    return merged


def build_app_state_from_l1(
    dep: LockingDeployment, block: int, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Active sequencers at `block`, the contract's event nonce and lock params there.

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
    merged = compute_params_with_l1(params, get_l1_params(dep, block))
    app_state = chain.make_genesis_app_state(sequencers, merged)
    app_state["last_l1_nonce"] = get_event_nonce(dep, block)
    return app_state
