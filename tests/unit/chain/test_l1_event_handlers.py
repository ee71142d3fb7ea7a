"""L1 event handlers: one per kind, validation writes nothing, a rejected event no partial write.

Every case below fails at one check of one handler. Run through
process_l1_event over a StateStore overlay, the only keys it may write are the
noop record and the chain state (the consumed nonce).
"""

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from abci_app import chain, pb, settlement
from abci_app.chain import keys
from abci_app.chain.l1events import L1_HANDLERS, L1Context, process_l1_event
from abci_app.chain.settlement import process_settlement_batch
from abci_app.chain.state import EXITED, TOMBSTONED, UNLOCKING, get_sequencer, put_sequencer
from abci_app.chain.withdrawals import get_withdrawals, put_withdrawal, queue_withdrawal
from abci_app.errors import (
    AppError,
    BatchMismatchError,
    ClaimExceedsRewardsError,
    ConsensusKeyInUseError,
    EmptyL1EventError,
    InsufficientLockError,
    InvalidAmountError,
    InvalidFieldError,
    NotActiveError,
    ReleaseExceedsReleasableError,
    SequencerExistsError,
    UnknownSequencerError,
)
from abci_app.l1events_schema import KIND_BY_ONEOF
from abci_app.store.state_store import Overlay, StateStore
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    L1_CHAIN_ID,
    L1_CONTRACT,
    SETTLEMENT_PARAMS,
    consensus_pubkey,
    l1_event,
    make_app_state,
    owner_address,
    signer_address,
)

# Sequencer 1 is ACTIVE with 9 ETH locked, 1 ETH releasable and 500 wei of rewards;
# 2 is UNLOCKING, 3 TOMBSTONED, 4 EXITED. min_lock is 1 ETH.
ACTIVE_ID, UNLOCKING_ID, TOMBSTONED_ID, EXITED_ID, UNKNOWN_ID = 1, 2, 3, 4, 9
BAD_ADDRESS = b"\x01" * 19
TO = b"\x05" * 20
# The in-flight batch the fixture forms: sequencer 1's releasable 1 ETH and its 500 wei.
DIGEST = settlement.compute_batch_digest(settlement.Batch(
    nonce=1, chain_id=L1_CHAIN_ID, verifying_contract=L1_CONTRACT,
    releases=(settlement.Release(ACTIVE_ID, ETH),),
    rewards=(settlement.Reward(ACTIVE_ID, 500),)))


def _locked(**fields: Any) -> pb.events.L1Event:
    values: dict[str, Any] = {
        "sequencer_id": UNKNOWN_ID, "owner": owner_address(UNKNOWN_ID),
        "signer": signer_address(UNKNOWN_ID), "consensus_pubkey": consensus_pubkey(UNKNOWN_ID),
        "amount_wei": str(5 * ETH)}
    values.update(fields)
    return pb.events.L1Event(nonce=1, locked=pb.events.Locked(**values))


def _event(kind: str, sequencer_id: int, **fields: Any) -> pb.events.L1Event:
    event: pb.events.L1Event = l1_event(1, kind, sequencer_id=sequencer_id, **fields)
    return event


INVALID: list[tuple[pb.events.L1Event, type[AppError]]] = [
    (_locked(sequencer_id=0), InvalidFieldError),
    (_locked(owner=BAD_ADDRESS), InvalidFieldError),
    (_locked(signer=b""), InvalidFieldError),
    (_locked(consensus_pubkey=b"\x01" * 31), InvalidFieldError),
    (_locked(amount_wei="05"), InvalidAmountError),
    (_locked(amount_wei="0"), InvalidAmountError),
    (_locked(amount_wei=str(ETH - 1)), InsufficientLockError),
    (_locked(sequencer_id=ACTIVE_ID), SequencerExistsError),
    (_locked(consensus_pubkey=consensus_pubkey(ACTIVE_ID)), ConsensusKeyInUseError),
    (_event("lock_increased", UNKNOWN_ID, amount_wei="1"), UnknownSequencerError),
    (_event("lock_increased", UNLOCKING_ID, amount_wei="1"), NotActiveError),
    (_event("lock_increased", ACTIVE_ID, amount_wei="0"), InvalidAmountError),
    (_event("lock_increased", ACTIVE_ID, amount_wei="1.5"), InvalidAmountError),
    (_event("signer_changed", UNKNOWN_ID, new_signer=signer_address(7)), UnknownSequencerError),
    (_event("signer_changed", EXITED_ID, new_signer=signer_address(7)), NotActiveError),
    (_event("signer_changed", ACTIVE_ID, new_signer=BAD_ADDRESS), InvalidFieldError),
    (_event("withdrawal_requested", UNKNOWN_ID, amount_wei="1"), UnknownSequencerError),
    (_event("withdrawal_requested", UNLOCKING_ID, amount_wei="1"), NotActiveError),
    (_event("withdrawal_requested", ACTIVE_ID, amount_wei="0"), InvalidAmountError),
    (_event("withdrawal_requested", ACTIVE_ID, amount_wei="1", remaining_wei="01"),
     InvalidAmountError),
    (_event("unlock_initiated", UNKNOWN_ID), UnknownSequencerError),
    (_event("unlock_initiated", UNLOCKING_ID), NotActiveError),
    (_event("unlock_initiated", EXITED_ID), NotActiveError),
    (_event("released", UNKNOWN_ID, to=TO, amount_wei="1"), UnknownSequencerError),
    (_event("released", ACTIVE_ID, to=BAD_ADDRESS, amount_wei="1"), InvalidFieldError),
    (_event("released", ACTIVE_ID, to=TO, amount_wei="0"), InvalidAmountError),
    (_event("released", ACTIVE_ID, to=TO, amount_wei=str(ETH + 1)),
     ReleaseExceedsReleasableError),
    (_event("rewards_claimed", UNKNOWN_ID, to=TO, amount_wei="1"), UnknownSequencerError),
    (_event("rewards_claimed", ACTIVE_ID, to=BAD_ADDRESS, amount_wei="1"), InvalidFieldError),
    (_event("rewards_claimed", ACTIVE_ID, to=TO, amount_wei="0"), InvalidAmountError),
    (_event("rewards_claimed", ACTIVE_ID, to=TO, amount_wei="501"), ClaimExceedsRewardsError),
    (_event("batch_settled", 0, batch_nonce="2", digest=DIGEST), BatchMismatchError),
    (_event("batch_settled", 0, batch_nonce="1", digest=b"\x00" * 32), BatchMismatchError),
    (_event("batch_settled", 0, batch_nonce="x", digest=DIGEST), InvalidAmountError),
    (pb.events.L1Event(nonce=1), EmptyL1EventError),  # last: it has no handler to call
]

VALID: list[pb.events.L1Event] = [
    _locked(),
    _event("lock_increased", ACTIVE_ID, amount_wei=str(ETH)),
    _event("signer_changed", ACTIVE_ID, new_signer=signer_address(7)),
    _event("withdrawal_requested", ACTIVE_ID, amount_wei=str(ETH)),
    _event("unlock_initiated", ACTIVE_ID),
    _event("released", ACTIVE_ID, to=TO, amount_wei=str(ETH)),
    _event("rewards_claimed", ACTIVE_ID, to=TO, amount_wei="500"),
    _event("batch_settled", 0, batch_nonce="1", digest=DIGEST),
]


INVALID_IDS = [f"{event.WhichOneof('kind')}-{error.__name__}-{index}"
               for index, (event, error) in enumerate(INVALID)]


class ReadOnlyKV:
    """Reads through to `kv`; any write fails the test."""

    def __init__(self, kv: Overlay) -> None:
        self._kv = kv

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        raise AssertionError(f"validation wrote {key!r}")

    def delete(self, key: bytes) -> None:
        raise AssertionError(f"validation deleted {key!r}")

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return self._kv.iterate(prefix, start)


def _set_status(kv: Overlay, sequencer_id: int, status: int) -> None:
    seq = get_sequencer(kv, sequencer_id)
    assert seq is not None
    seq.status = status
    put_sequencer(kv, seq)


@pytest.fixture(scope="module")
def store() -> StateStore:
    store = StateStore(None)
    kv = store.overlay()
    chain.init_chain(kv, make_app_state([10 * ETH] * 4, **SETTLEMENT_PARAMS), CHAIN_ID,
                     GENESIS_TIME_NS, 1)
    params = chain.get_params(kv)
    seq = get_sequencer(kv, ACTIVE_ID)
    assert seq is not None
    withdrawal = queue_withdrawal(kv, seq, ETH, GENESIS_TIME_NS, params, l1_nonce=0)
    withdrawal.releasable = True
    put_withdrawal(kv, withdrawal)
    seq.rewards_accrued_wei = "500"
    put_sequencer(kv, seq)
    _set_status(kv, UNLOCKING_ID, UNLOCKING)
    _set_status(kv, TOMBSTONED_ID, TOMBSTONED)
    _set_status(kv, EXITED_ID, EXITED)
    block = replace(_block(), height=SETTLEMENT_PARAMS["settlement_interval_blocks"])
    process_settlement_batch(kv, block, params)
    assert chain.get_pending_settlement(kv) == (1, DIGEST)
    store.commit(kv, 1)
    return store


def _block() -> chain.BlockInput:
    return chain.BlockInput(
        height=2, time_ns=GENESIS_TIME_NS + 10**9, chain_id=CHAIN_ID,
        proposer_address=b"\x00" * 20, last_app_hash=b"", decided_last_commit=[],
        misbehavior=[], l1_events=[], txs=[])


def test_every_kind_has_a_handler() -> None:
    assert set(L1_HANDLERS) == set(KIND_BY_ONEOF)


def test_every_kind_has_invalid_and_valid_cases() -> None:
    kinds = {event.WhichOneof("kind") for event, _ in INVALID}
    assert kinds >= set(KIND_BY_ONEOF)
    assert [event.WhichOneof("kind") for event in VALID] == list(KIND_BY_ONEOF)


@pytest.mark.parametrize(("event", "error"), INVALID, ids=INVALID_IDS)
def test_invalid_event_writes_only_its_noop_and_nonce(
    store: StateStore, event: pb.events.L1Event, error: type[AppError]
) -> None:
    kv = store.overlay()
    outcome = process_l1_event(kv, event, _block(), chain.get_params(kv))
    assert outcome.code == error.code, outcome.log
    assert set(kv.pending()) == {keys.CHAIN_STATE, keys.l1_noop_key(1)}


@pytest.mark.parametrize(("event", "error"), INVALID[:-1], ids=INVALID_IDS[:-1])
def test_invalid_event_validation_writes_nothing(
    store: StateStore, event: pb.events.L1Event, error: type[AppError]
) -> None:
    kv = store.overlay()
    kind = str(event.WhichOneof("kind"))
    ctx = L1Context(_block(), chain.get_params(kv), 1)
    with pytest.raises(error):
        L1_HANDLERS[kind].validate(ReadOnlyKV(kv), getattr(event, kind), ctx)


@pytest.mark.parametrize("event", VALID, ids=list(KIND_BY_ONEOF))
def test_valid_event_is_validated_without_writes_then_applied(
    store: StateStore, event: pb.events.L1Event
) -> None:
    kv = store.overlay()
    kind = str(event.WhichOneof("kind"))
    ctx = L1Context(_block(), chain.get_params(kv), 1)
    L1_HANDLERS[kind].validate(ReadOnlyKV(kv), getattr(event, kind), ctx)
    outcome = process_l1_event(kv, event, _block(), ctx.params)
    assert outcome.code == 0, outcome.log
    assert keys.l1_noop_key(1) not in kv.pending()


@pytest.mark.parametrize("kind", ["withdrawal_requested", "unlock_initiated"])
def test_queued_withdrawal_keeps_the_nonce_of_its_l1_event(store: StateStore, kind: str) -> None:
    kv = store.overlay()
    fields = {"amount_wei": str(ETH)} if kind == "withdrawal_requested" else {}
    event = l1_event(1, kind, sequencer_id=ACTIVE_ID, **fields)
    assert process_l1_event(kv, event, _block(), chain.get_params(kv)).code == 0
    queued = [w for w in get_withdrawals(kv, ACTIVE_ID) if not w.releasable]
    assert [w.l1_nonce for w in queued] == [1]
