"""Property tests: random events, txs, votes and misbehaviour; invariants after every block."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from abci_app import chain, pb
from abci_app.chain import keys
from abci_app.chain.schedule import (
    compute_rotation_candidates,
    get_current_producer,
    get_epoch_schedule,
)
from abci_app.chain.state import (
    get_account_nonce,
    get_chain_state,
    get_locked,
    get_sequencers,
    get_totals,
)
from abci_app.chain.validators import MAX_TOTAL_VOTING_POWER
from abci_app.chain.withdrawals import get_withdrawal_amount, get_withdrawals
from abci_app.errors import GenesisError
from abci_app.store.kv import MemoryKV
from tests.unit.chain.helpers import (
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    L2_PARAMS,
    Driver,
    compute_app_hash,
    consensus_address,
    consensus_pubkey,
    l1_event,
    l1_locked,
    make_app_state,
    make_l2_header,
    make_scheduled_headers,
    make_unjail_tx,
    owner_address,
    predict_block,
    signer_address,
)

MAX_INDEX = 8
ADVANCES_S = [1, 5, 30, 61, 120, 700]
L1_KINDS = ["locked", "lock_increased", "withdrawal_requested", "unlock_initiated", "released",
            "rewards_claimed", "signer_changed", "gap", "duplicate"]


class Model:
    """What CometBFT holds, to check each batch of validator updates against."""

    def __init__(self, initial: list[chain.ValidatorUpdate]) -> None:
        self.powers = {u.pub_key: u.power for u in initial}

    def apply(self, updates: list[chain.ValidatorUpdate]) -> None:
        keys = [u.pub_key for u in updates]
        assert len(keys) == len(set(keys)), "duplicate validator in one update"
        for update in updates:
            assert update.power >= 0
            if update.power == 0:
                assert update.pub_key in self.powers, "power 0 for a validator CometBFT lacks"
                del self.powers[update.pub_key]
            else:
                self.powers[update.pub_key] = update.power
        assert self.powers, "validator set became empty"
        assert sum(self.powers.values()) <= MAX_TOTAL_VOTING_POWER


def draw_l1_event(data: Any, kv: MemoryKV, nonce: int) -> Any:
    kind = data.draw(st.sampled_from(L1_KINDS))
    index = data.draw(st.integers(1, MAX_INDEX))
    amount = data.draw(st.sampled_from([1, ETH // 2, ETH, 3 * ETH, 10 * ETH, 50 * ETH]))
    if kind == "locked":
        return l1_locked(nonce, index, amount)
    if kind == "gap":
        return l1_locked(nonce + 2, index, amount)
    if kind == "duplicate":
        return l1_event(max(nonce - 1, 0), "lock_increased", sequencer_id=index, amount_wei="1")
    if kind == "released":
        releasable = sum(get_withdrawal_amount(w) for w in get_withdrawals(kv, index)
                         if w.releasable)
        amount = data.draw(st.sampled_from([releasable, releasable // 2 + 1, amount]))
        return l1_event(nonce, kind, sequencer_id=index, to=owner_address(index),
                        amount_wei=str(amount))
    if kind == "rewards_claimed":
        return l1_event(nonce, kind, sequencer_id=index, to=owner_address(index),
                        amount_wei=str(data.draw(st.sampled_from([1, 1000, 10**6]))))
    if kind == "signer_changed":
        return l1_event(nonce, kind, sequencer_id=index,
                        new_signer=signer_address(data.draw(st.integers(1, MAX_INDEX))))
    return l1_event(nonce, kind, sequencer_id=index, amount_wei=str(amount))


def draw_txs(data: Any, kv: MemoryKV) -> list[bytes]:
    nonces: dict[int, int] = {}
    txs = []
    for _ in range(data.draw(st.integers(0, 3))):
        kind = data.draw(st.sampled_from(["unjail", "unjail", "stray"]))
        sender = data.draw(st.integers(1, MAX_INDEX))
        nonce = nonces.get(sender, get_account_nonce(kv, signer_address(sender)))
        nonces[sender] = nonce + 1
        target = sender if kind == "unjail" else data.draw(st.integers(1, MAX_INDEX + 1))
        txs.append(make_unjail_tx(sender, nonce, target))
    return txs


def draw_l2(data: Any, driver: Driver, advance_ns: int) -> dict[str, Any]:
    """Attested L2 input: headers by the scheduled producers, some out of turn or not
    linking; sometimes the requested randomness and a new L1 height."""
    count = data.draw(st.integers(0, 12))
    producers = {}
    head = chain.get_l2_head(driver.kv)
    assert head is not None
    for offset in data.draw(st.sets(st.integers(1, 12), max_size=2)):
        producers[head[0] + offset] = signer_address(data.draw(st.integers(1, MAX_INDEX)))
    block = predict_block(driver.kv, driver.height + 1, driver.time_ns + advance_ns)
    headers = make_scheduled_headers(driver.kv, count, block, producers)
    if data.draw(st.integers(0, 9)) == 0:
        headers.append(make_l2_header(head[0] + count + 2, signer_address(1)))  # a gap
    request = chain.get_seed_request(driver.kv)
    randomness = None
    if request and data.draw(st.booleans()):
        randomness = pb.l2.L1Randomness(l1_height=request, mix_hash=data.draw(
            st.binary(min_size=32, max_size=32)))
    confirmed = chain.get_attested_l1_height(driver.kv) + data.draw(st.integers(0, 40))
    return {"l2_headers": headers, "seed_randomness": randomness,
            "l1_confirmed_height": confirmed}


def draw_block(data: Any, driver: Driver, offline: set[int]) -> dict[str, Any]:
    kv = driver.kv
    next_nonce = chain.get_last_applied_l1_nonce(kv) + 1
    events = []
    for _ in range(data.draw(st.integers(0, 2))):
        event = draw_l1_event(data, kv, next_nonce)
        events.append(event)
        if event.nonce == next_nonce:
            next_nonce += 1
    signers = chain.get_validator_set(kv, driver.height)
    absent = offline | data.draw(st.sets(st.integers(1, MAX_INDEX), max_size=2))
    votes = [chain.VoteInfo(e.address, e.power, e.sequencer_id not in absent) for e in signers]
    misbehavior = []
    if data.draw(st.integers(0, 9)) == 0:
        index = data.draw(st.integers(1, MAX_INDEX + 1))
        kind = data.draw(st.sampled_from(["duplicate_vote", "light_client_attack"]))
        misbehavior.append(chain.Misbehavior(
            kind, consensus_address(index), max(driver.height, 1), 0, 1))
    advance_ns = data.draw(st.sampled_from(ADVANCES_S)) * 10**9
    return {"txs": draw_txs(data, kv), "l1_events": events, "votes": votes,
            "misbehavior": misbehavior, "advance_ns": advance_ns,
            **draw_l2(data, driver, advance_ns)}


def check_invariants(kv: MemoryKV, params: chain.Params, was_stale: tuple[int, int] | None,
                     outcome: chain.BlockOutcome) -> tuple[int, int] | None:
    """Returns (epoch, producer) when the producer is stale: not a candidate while someone is."""
    totals = get_totals(kv)
    sequencers = get_sequencers(kv)
    withdrawals = get_withdrawals(kv)
    locked = sum(get_locked(s) for s in sequencers)
    pending = sum(get_withdrawal_amount(w) for w in withdrawals)
    # Verify stake is conserved exactly and the running totals match the records
    assert totals["total_locked_ever_wei"] == (
        locked + pending + totals["total_released_wei"] + totals["total_slashed_wei"])
    assert (totals["total_locked_wei"], totals["total_pending_wei"]) == (locked, pending)
    assert all(v >= 0 for v in totals.values())
    assert all(get_withdrawal_amount(w) > 0 for w in withdrawals)
    # Verify the due index holds exactly the withdrawals still in their delay
    assert [key for key, _ in kv.iterate(keys.WITHDRAWAL_DUE_INDEX_PREFIX)] == sorted(
        keys.withdrawal_due_index_key(int(w.releasable_at_ns), int(w.id))
        for w in withdrawals if not w.releasable)
    assert [key for key, _ in kv.iterate(keys.WITHDRAWAL_SEQUENCER_INDEX_PREFIX)] == sorted(
        keys.withdrawal_sequencer_index_key(int(w.sequencer_id), int(w.id)) for w in withdrawals)
    for seq in sequencers:
        assert get_locked(seq) >= 0
        assert int(seq.rewards_accrued_wei) >= int(seq.rewards_claimed_wei) >= 0
    # Verify a producer that is no rotation candidate while someone is (jailed or slashed
    # late in a block: the rotation runs first) is replaced in the next block. A producer
    # the block itself chose (a new epoch) and then jailed is stale for the first time.
    candidates = compute_rotation_candidates(
        sequencers, params, int(get_chain_state(kv).last_block_time_ns))
    chain_state = get_chain_state(kv)
    schedule = get_epoch_schedule(kv, chain_state.current_epoch)
    producer = get_current_producer(schedule)
    stale = ((int(chain_state.current_epoch), producer)
             if candidates and producer not in {c.sequencer_id for c in candidates} else None)
    if (stale is not None and stale == was_stale
            and chain_state.last_l2_height < schedule.last_l2_height):
        assert any(e.type == "producer_reelected" for e in outcome.events)
    return stale


def replay(app_state: bytes, blocks: list[chain.BlockInput]) -> list[bytes]:
    kv = MemoryKV()
    chain.init_chain(kv, app_state, CHAIN_ID, GENESIS_TIME_NS, 1)
    hashes = []
    for block in blocks:
        chain.finalize_block(kv, block)
        hashes.append(compute_app_hash(kv))
    return hashes


def run_block(driver: Driver, spec: dict[str, Any]) -> tuple[chain.BlockInput, Any]:
    driver.height += 1
    driver.time_ns += spec["advance_ns"]
    block = chain.BlockInput(
        height=driver.height, time_ns=driver.time_ns, chain_id=CHAIN_ID,
        proposer_address=b"\x00" * 20, last_app_hash=driver.app_hash,
        decided_last_commit=spec["votes"], misbehavior=spec["misbehavior"],
        l1_events=spec["l1_events"], txs=spec["txs"], l2_headers=spec["l2_headers"],
        seed_randomness=spec["seed_randomness"], l1_confirmed_height=spec["l1_confirmed_height"])
    outcome = chain.finalize_block(driver.kv, block)
    driver.app_hash = compute_app_hash(driver.kv)
    assert len(outcome.tx_results) == len(block.txs)
    assert len(outcome.l1_results) == len(block.l1_events)
    return block, outcome


def record_statistics(outcome: chain.BlockOutcome) -> None:
    """Shown by pytest --hypothesis-show-statistics: proves the paths are exercised."""
    results = outcome.tx_results + outcome.l1_results
    for result in results:
        event(f"code {result.code}")
    for item in outcome.events + [e for r in results for e in r.events]:
        event(item.type)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), stakes=st.lists(st.sampled_from([ETH, 5 * ETH, 20 * ETH]),
                                       min_size=1, max_size=4))
def test_random_blocks_keep_invariants_and_replay_identically(data: Any, stakes: list[int]) -> None:
    app_state = make_app_state(stakes, **L2_PARAMS)
    kv = MemoryKV()
    model = Model(chain.init_chain(kv, app_state, CHAIN_ID, GENESIS_TIME_NS, 1))
    params = chain.get_params(kv)
    driver = Driver(kv)
    blocks: list[chain.BlockInput] = []
    hashes: list[bytes] = []
    offline = data.draw(st.sets(st.integers(1, MAX_INDEX), max_size=2))
    stale = None
    for _ in range(data.draw(st.integers(1, 40))):
        block, outcome = run_block(driver, draw_block(data, driver, offline))
        blocks.append(block)
        hashes.append(driver.app_hash)
        record_statistics(outcome)
        model.apply(outcome.validator_updates)
        assert model.powers == {e.pub_key: e.power
                                for e in chain.get_validator_set(kv, driver.height + 2)}
        stale = check_invariants(kv, params, stale, outcome)

    assert replay(app_state, blocks) == hashes
    if chain.get_validator_set(kv, driver.height + 1) != chain.get_validator_set(
            kv, driver.height + 2):
        # A pending set change cannot be expressed by InitChain: export refuses.
        with pytest.raises(GenesisError, match="validator-set change"):
            chain.export_genesis(kv, CHAIN_ID)
        return
    exported = json.dumps(chain.export_genesis(kv, CHAIN_ID)).encode()
    restored = MemoryKV()
    chain.init_chain(restored, exported, CHAIN_ID, 0, driver.height + 1)
    assert compute_app_hash(restored) == driver.app_hash


def test_known_validator_keys_are_distinct() -> None:
    assert len({consensus_pubkey(i) for i in range(1, MAX_INDEX + 2)}) == MAX_INDEX + 1
