"""Acceptance 6: nobody can grind the rotation (8 equal stakes, 200 epochs).

The real chain (finalize_block over MemoryKV) runs with attested L2 headers,
L1 confirmed heights and L1 randomness in BlockInput. The L1 is modelled as one
block per chain block; the mixHash of L1 block N is sha256(SALT || N), and SALT
is unknown to the attacker. Sequencer 1 attacks in two ways at once:
  (a) as producer, when it holds its epoch's last L2 block, it may withhold it
      for up to MAX_WITHHOLD blocks (under the rotation timeout) and releases it
      at the first block where running the chain forward on a copy of the state
      (with every L1 block mined so far, and its own guess for the future ones)
      gives it the epoch being scheduled;
  (b) as proposer of every block that ends an epoch, it chooses which of
      TX_OPTIONS sets of valid txs from its own account to include, the same way.
Its share of epochs 2..201 must stay within the 99% binomial bound of 1/8.
The OLD rule (seed of e+2 from the app hash of the block that ends e) is
modelled by a pure function: the same attacker wins far more than the bound.
"""

import hashlib
import sys
from math import comb

import pytest

from abci_app import chain, pb
from abci_app.chain.schedule import (
    SEED_LOOKAHEAD_EPOCHS,
    compute_producer,
    compute_producer_at,
    compute_randomness_seed,
    get_epoch_schedule,
)
from abci_app.chain.state import get_chain_state, get_sequencer
from abci_app.store.kv import MemoryKV
from abci_app.valset import ValidatorEntry
from tests.unit.chain.helpers import (
    BLOCK_INTERVAL_NS,
    CHAIN_ID,
    ETH,
    GENESIS_TIME_NS,
    L2_GENESIS_HASH,
    L2_PARAMS,
    l2_block_hash,
    make_chain,
    make_unjail_tx,
)

SEQUENCERS = 8
ATTACKER = 1
EPOCHS = 200
FIRST_COUNTED_EPOCH = 2  # epochs 0 and 1 are seeded at genesis
EPOCH_LENGTH = 4
TIMEOUT_S = 10
MAX_WITHHOLD = TIMEOUT_S - 2  # blocks (1 s apart) the last block may be late without a fault
TX_OPTIONS = 3
CONFIRMATIONS = 1  # L1 blocks; seed_l1_delay_blocks must exceed it
# The named L1 block is SEED_DELAY past the attested height, which trails the L1 tip
# by CONFIRMATIONS + 1 (attested a block late): it is never mined when named.
SEED_DELAY = 4
SALT = b"l1-randomness-the-attacker-cannot-know"
GUESS = b"the-attackers-guess"
PARAMS = {**L2_PARAMS, "epoch_length": EPOCH_LENGTH, "rotation_timeout_s": TIMEOUT_S,
          "seed_l1_delay_blocks": SEED_DELAY, "signed_blocks_window": 10_000}


def compute_binomial_bound(n: int, p_num: int, p_den: int, confidence_pct: int) -> int:
    """Smallest k with P(X <= k) >= confidence for X ~ Bin(n, p), in exact integers."""
    total = p_den**n
    cumulative = 0
    for k in range(n + 1):
        cumulative += comb(n, k) * p_num**k * (p_den - p_num) ** (n - k)
        if cumulative * 100 >= confidence_pct * total:
            return k
    return n


BOUND = compute_binomial_bound(EPOCHS, 1, SEQUENCERS, 99)


def compute_mix_hash(salt: bytes, l1_height: int) -> bytes:
    return hashlib.sha256(salt + l1_height.to_bytes(8, "big")).digest()


class Sim:
    """Drives finalize_block: one L2 header per block by its scheduled producer."""

    def __init__(self, kv: MemoryKV, height: int = 0, known_l1: int = 2**62) -> None:
        self.kv = kv
        self.height = height
        self.known_l1 = known_l1  # L1 blocks above it are guessed, not known
        self.nonce = 0

    def copy(self) -> "Sim":
        sim = Sim(MemoryKV(dict(self.kv.items())), self.height, self.height)
        sim.nonce = self.nonce
        return sim

    def mix_hash(self, l1_height: int) -> bytes:
        return compute_mix_hash(SALT if l1_height <= self.known_l1 else GUESS, l1_height)

    def next_header(self) -> tuple[pb.l2.L2Header, bool]:
        """The next L2 block and whether it is the last of an epoch held by the attacker."""
        chain_state = get_chain_state(self.kv)
        height = int(chain_state.last_l2_height) + 1
        schedule = get_epoch_schedule(self.kv, chain_state.current_epoch)
        producer = compute_producer_at(schedule, height)
        parent = bytes(chain_state.last_l2_block_hash) or L2_GENESIS_HASH
        signer = bytes(get_sequencer(self.kv, producer).signer)
        header = pb.l2.L2Header(height=height, hash=l2_block_hash(height), parent_hash=parent,
                                producer=signer)
        return header, producer == ATTACKER and height == schedule.last_l2_height

    def block(self, header: pb.l2.L2Header | None, txs: int = 0) -> None:
        self.height += 1
        confirmed = max(self.height - CONFIRMATIONS - 1, 0)  # attested one block late
        request = chain.get_seed_request(self.kv)
        randomness = None
        if 0 < request <= confirmed:
            randomness = pb.l2.L1Randomness(l1_height=request, mix_hash=self.mix_hash(request))
        raw_txs = []
        for _ in range(txs):  # valid txs from the attacker's account: they move the app hash
            raw_txs.append(make_unjail_tx(ATTACKER, self.nonce, ATTACKER))
            self.nonce += 1
        chain.finalize_block(self.kv, chain.BlockInput(
            height=self.height, time_ns=GENESIS_TIME_NS + self.height * BLOCK_INTERVAL_NS,
            chain_id=CHAIN_ID, proposer_address=b"\x00" * 20, last_app_hash=b"",
            decided_last_commit=[], misbehavior=[], l1_events=[], txs=raw_txs,
            l2_headers=[header] if header is not None else [], seed_randomness=randomness,
            l1_confirmed_height=confirmed))

    def epoch(self) -> int:
        return int(get_chain_state(self.kv).current_epoch)

    def honest_block(self, txs: int = 0) -> None:
        self.block(self.next_header()[0], txs)


def is_favourable(sim: Sim, target_epoch: int) -> bool:
    """Run a copy forward until `target_epoch` is seeded: does the attacker produce it?"""
    for _ in range(4 * EPOCH_LENGTH):
        schedule = get_epoch_schedule(sim.kv, target_epoch)
        if schedule is not None and schedule.seed:
            return compute_producer_at(schedule, int(schedule.first_l2_height)) == ATTACKER
        sim.honest_block()
    return False


def attack_withhold(sim: Sim, header: pb.l2.L2Header) -> None:
    """(a): release the epoch's last block at the first delay the copy says is favourable."""
    target = sim.epoch() + 1 + SEED_LOOKAHEAD_EPOCHS  # scheduled when the next epoch starts
    for delay in range(MAX_WITHHOLD + 1):
        trial = sim.copy()
        trial.block(header)
        if delay == MAX_WITHHOLD or is_favourable(trial, target):
            sim.block(header)
            return
        sim.block(None)


def attack_tx_choice(sim: Sim, header: pb.l2.L2Header) -> None:
    """(b): as proposer of the block that ends the epoch, pick the favourable tx set."""
    target = sim.epoch() + 1 + SEED_LOOKAHEAD_EPOCHS
    for txs in range(TX_OPTIONS):
        trial = sim.copy()
        trial.block(header, txs)
        if is_favourable(trial, target):
            sim.block(header, txs)
            return
    sim.block(header)


def run_attacked_chain() -> tuple[list[int], int]:
    """(producer of each counted epoch, how many of them were seeded by L1 randomness)."""
    kv = make_chain([10 * ETH] * SEQUENCERS, **PARAMS)
    sim = Sim(kv)
    last_counted = FIRST_COUNTED_EPOCH + EPOCHS - 1
    while sim.epoch() <= last_counted:
        header, attacker_holds_last = sim.next_header()
        ends_epoch = header.height % EPOCH_LENGTH == 0
        if attacker_holds_last:
            attack_withhold(sim, header)
        elif ends_epoch:
            attack_tx_choice(sim, header)
        else:
            sim.honest_block()
    producers = []
    from_l1 = 0
    for epoch in range(FIRST_COUNTED_EPOCH, last_counted + 1):
        schedule = get_epoch_schedule(kv, epoch)
        assert schedule is not None and schedule.seed
        producers.append(compute_producer_at(schedule, int(schedule.first_l2_height)))
        mix_hash = compute_mix_hash(SALT, int(schedule.seed_l1_height))
        from_l1 += schedule.seed == compute_randomness_seed(mix_hash, epoch)
    return producers, from_l1


def compute_old_rule_producers(epochs: int, withhold: int, tx_options: int) -> list[int]:
    """The OLD rule as a pure model: seed(e+2) = sha256("seqset/epoch-seed/v1" || app
    hash || u64be(e+2)), app hash = the last committed one in the block that ends e.
    The attacker, when it produces e, may end e up to `withhold` blocks later; as a
    proposer it picks one of `tx_options` tx sets in the block before. App hashes
    are a hash chain: unpredictable before, known to all once committed."""
    candidates = [ValidatorEntry(b"", b"", 10, i + 1) for i in range(SEQUENCERS)]

    def producer(app_hash: bytes, epoch: int) -> int:
        seed = hashlib.sha256(b"seqset/epoch-seed/v1" + app_hash + epoch.to_bytes(8, "big"))
        return compute_producer(seed.digest(), candidates)

    app_hash = hashlib.sha256(b"old-genesis").digest()
    schedule = {0: producer(app_hash, 0), 1: producer(app_hash, 1)}
    for epoch in range(epochs + FIRST_COUNTED_EPOCH):
        for _ in range(EPOCH_LENGTH - 1):
            app_hash = hashlib.sha256(app_hash + b"block").digest()
        delays = withhold + 1 if schedule[epoch] == ATTACKER else 1
        options = [hashlib.sha256(app_hash + bytes([d, k])).digest()
                   for d in range(delays) for k in range(tx_options)]
        chosen = next((h for h in options if producer(h, epoch + 2) == ATTACKER), options[0])
        schedule[epoch + 2] = producer(chosen, epoch + 2)
        app_hash = chosen
    return [schedule[e] for e in range(FIRST_COUNTED_EPOCH, FIRST_COUNTED_EPOCH + epochs)]


def test_binomial_bound_is_exact() -> None:
    assert compute_binomial_bound(200, 1, 8, 99) == BOUND
    assert 25 < BOUND < 40  # mean 25, standard deviation 4.7
    assert compute_binomial_bound(10, 1, 2, 50) == 5


def test_old_rule_is_ground_far_past_the_bound() -> None:
    same_attacker = compute_old_rule_producers(EPOCHS, MAX_WITHHOLD, TX_OPTIONS)
    assert same_attacker.count(ATTACKER) > 3 * BOUND, same_attacker.count(ATTACKER)
    withhold_only = compute_old_rule_producers(EPOCHS, MAX_WITHHOLD, 1).count(ATTACKER)
    tx_choice_only = compute_old_rule_producers(EPOCHS, 0, TX_OPTIONS).count(ATTACKER)
    assert withhold_only > BOUND, withhold_only
    assert tx_choice_only > BOUND, tx_choice_only


def test_attacker_cannot_grind_the_seed() -> None:
    producers, from_l1 = run_attacked_chain()
    assert len(producers) == EPOCHS
    assert from_l1 == EPOCHS  # every seed came from L1 randomness, none from the fallback
    share = producers.count(ATTACKER)
    assert share <= BOUND, f"attacker produced {share} of {EPOCHS} epochs (bound {BOUND})"
    assert len(set(producers)) == SEQUENCERS  # everyone gets turns


def test_the_same_attacker_knowing_the_randomness_would_break_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness can fail on the real chain: what protects it is the unknown L1 block."""
    monkeypatch.setattr(sys.modules[__name__], "GUESS", SALT)
    producers, _ = run_attacked_chain()
    assert producers.count(ATTACKER) > BOUND
