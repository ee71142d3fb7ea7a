"""Builders for chain tests: keys, a genesis state, blocks, signed txs and L1 events."""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey

from abci_app import chain, pb
from abci_app.chain import txsign
from abci_app.chain.l2 import get_l2_head, process_l2_headers
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.schedule import compute_epoch_of, compute_producer_at, get_epoch_schedule
from abci_app.chain.state import get_params, get_sequencer
from abci_app.store.kv import MemoryKV
from abci_app.valset import compute_consensus_address

CHAIN_ID = "seqset-test"
GENESIS_TIME_NS = 1_700_000_000 * 10**9
BLOCK_INTERVAL_NS = 10**9
ETH = 10**18
DEFAULT_PARAMS: dict[str, Any] = {
    "min_lock_wei": ETH,
    "power_reduction": ETH,
    "epoch_length": 10,
    "rotation_timeout_s": 60,
    "signed_blocks_window": 10,
    "min_signed_bps": 5000,
    "downtime_jail_s": 600,
    "downtime_slash_bps": 100,
    "double_sign_slash_bps": 500,
    "producer_fault_slash_bps": 10,
    "producer_jail_s": 600,
    "withdrawal_delay_s": 100,
    "evidence_max_age_s": 100,  # genesis refuses a withdrawal delay shorter than this
    "reward_per_l2_block_wei": 1000,
}
# A registered L2: merge into the params of tests that drive the rotation.
L2_CHAIN_ID = 901
L2_GENESIS_HASH = hashlib.sha256(b"l2-genesis").digest()
L2_PARAMS: dict[str, Any] = {"l2_chain_id": L2_CHAIN_ID,
                             "l2_genesis_hash": "0x" + L2_GENESIS_HASH.hex()}


# Settlement to a Locking contract: merge into the params of settlement tests.
L1_CHAIN_ID = 31337
L1_CONTRACT = b"\xc0" * 20
SETTLEMENT_PARAMS: dict[str, Any] = {"l1_chain_id": L1_CHAIN_ID,
                                     "l1_contract_address": "0x" + L1_CONTRACT.hex(),
                                     "settlement_interval_blocks": 2}


def signer_key(index: int) -> bytes:
    return hashlib.sha256(b"signer-%d" % index).digest()


def signer_address(index: int) -> bytes:
    return txsign.compute_signer_address(signer_key(index))


def consensus_pubkey(index: int) -> bytes:
    seed = hashlib.sha256(b"consensus-%d" % index).digest()
    return bytes(SigningKey(seed).verify_key)


def consensus_address(index: int) -> bytes:
    return compute_consensus_address(consensus_pubkey(index))


def owner_address(index: int) -> bytes:
    return hashlib.sha256(b"owner-%d" % index).digest()[:20]


def genesis_sequencer(index: int, locked_wei: int) -> dict[str, Any]:
    return {"id": index, "owner": owner_address(index), "signer": signer_address(index),
            "consensus_pubkey": consensus_pubkey(index), "locked_wei": locked_wei}


def make_app_state(stakes: list[int], **params: Any) -> bytes:
    doc = chain.make_genesis_app_state(
        [genesis_sequencer(i + 1, s) for i, s in enumerate(stakes)], {**DEFAULT_PARAMS, **params})
    return json.dumps(doc).encode()


def make_chain(stakes: list[int] | None = None, **params: Any) -> MemoryKV:
    kv = MemoryKV()
    chain.init_chain(kv, make_app_state(stakes or [10 * ETH], **params), CHAIN_ID,
                     GENESIS_TIME_NS, 1)
    return kv


def compute_app_hash(kv: MemoryKV) -> bytes:
    """Stand-in for the Merkle store: sha256 over the sorted items."""
    digest = hashlib.sha256()
    for key, value in sorted(kv.items().items()):
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return digest.digest()


def make_body(nonce: int, chain_id: str = CHAIN_ID, **msg: Any) -> Any:
    return tx_pb.TxBody(chain_id=chain_id, nonce=nonce, **msg)


def make_unjail_tx(signer: int, nonce: int, sequencer_id: int,
                   chain_id: str = CHAIN_ID) -> bytes:
    body = make_body(nonce, chain_id, unjail=tx_pb.Unjail(sequencer_id=sequencer_id))
    return txsign.sign_tx(body, signer_key(signer))


def make_removed_l2_progress_tx(signer: int, nonce: int, sequencer_id: int) -> bytes:
    """A tx carrying TxBody field 11, the removed L2Progress message, as raw bytes."""
    old_msg = b"\x08" + bytes([sequencer_id]) + b"\x10\x01" + b"\x1a\x20" + b"\x01" * 32
    raw = make_body(nonce).SerializeToString() + b"\x5a" + bytes([len(old_msg)]) + old_msg
    body = tx_pb.TxBody.FromString(raw)  # keeps field 11 as an unknown field
    return txsign.sign_tx(body, signer_key(signer))


def l1_locked(nonce: int, index: int, amount: int) -> Any:
    return pb.events.L1Event(nonce=nonce, locked=pb.events.Locked(
        sequencer_id=index, owner=owner_address(index), signer=signer_address(index),
        consensus_pubkey=consensus_pubkey(index), amount_wei=str(amount)))


def l1_event(nonce: int, kind: str, **fields: Any) -> Any:
    classes = {"lock_increased": pb.events.LockIncreased, "signer_changed": pb.events.SignerChanged,
               "withdrawal_requested": pb.events.WithdrawalRequested,
               "unlock_initiated": pb.events.UnlockInitiated, "released": pb.events.Released,
               "rewards_claimed": pb.events.RewardsClaimed,
               "batch_settled": pb.events.BatchSettled}
    return pb.events.L1Event(nonce=nonce, **{kind: classes[kind](**fields)})


def l2_block_hash(l2_height: int, fork: bytes = b"") -> bytes:
    return hashlib.sha256(b"l2-%d" % l2_height + fork).digest()


def make_l2_header(l2_height: int, producer: bytes, parent_hash: bytes | None = None,
                   fork: bytes = b"") -> Any:
    if parent_hash is None:
        parent_hash = L2_GENESIS_HASH if l2_height == 1 else l2_block_hash(l2_height - 1, fork)
    return pb.l2.L2Header(height=l2_height, hash=l2_block_hash(l2_height, fork),
                          parent_hash=parent_hash, producer=producer)


def predict_block(kv: MemoryKV, height: int, time_ns: int) -> chain.BlockInput:
    return chain.BlockInput(height=height, time_ns=time_ns, chain_id=CHAIN_ID,
                            proposer_address=b"\x00" * 20, last_app_hash=b"",
                            decided_last_commit=[], misbehavior=[], l1_events=[], txs=[])


def make_scheduled_headers(kv: MemoryKV, count: int, block: chain.BlockInput,
                           producers: dict[int, bytes] | None = None) -> list[Any]:
    """`count` headers from the head, each by its scheduled producer's signer (or
    producers[height]), found by applying them to a copy of the state."""
    copy = MemoryKV(dict(kv.items()))
    params = get_params(copy)
    headers = []
    for _ in range(count):
        head = get_l2_head(copy)
        assert head is not None, "no L2 registered"
        height = head[0] + 1
        placeholder = pb.l2.L2Header(height=height, hash=l2_block_hash(height),
                                     parent_hash=head[1], producer=b"\x00" * 20)
        process_l2_headers(copy, [placeholder], block, params, block.time_ns)
        schedule = get_epoch_schedule(copy, compute_epoch_of(height, params.epoch_length))
        assert schedule is not None
        scheduled = compute_producer_at(schedule, height)
        seq = get_sequencer(copy, scheduled) if scheduled else None
        signer = bytes(seq.signer) if seq is not None else b"\x00" * 20
        placeholder.producer = (producers or {}).get(height, signer)
        headers.append(placeholder)
    return headers


@dataclass
class Driver:
    """Feeds blocks to finalize_block with increasing height and time."""

    kv: MemoryKV
    height: int = 0
    time_ns: int = GENESIS_TIME_NS
    app_hash: bytes = b""
    all_updates: list[list[chain.ValidatorUpdate]] = field(default_factory=list)

    def block(self, txs: list[bytes] | None = None, l1_events: list[Any] | None = None,
              votes: list[chain.VoteInfo] | None = None,
              misbehavior: list[chain.Misbehavior] | None = None,
              advance_ns: int = BLOCK_INTERVAL_NS, l2_headers: list[Any] | None = None,
              seed_randomness: Any = None, l1_confirmed_height: int = 0,
              produce: int = 0, producers: dict[int, bytes] | None = None,
              settlement_signatures: list[tuple[bytes, bytes]] | None = None,
              ) -> chain.BlockOutcome:
        """`produce` adds that many headers by the scheduled producers (or `producers`)."""
        self.height += 1
        self.time_ns += advance_ns
        headers = list(l2_headers or [])
        if produce:
            headers += make_scheduled_headers(
                self.kv, produce, predict_block(self.kv, self.height, self.time_ns), producers)
        if votes is None:
            votes = [chain.VoteInfo(e.address, e.power, True)
                     for e in chain.get_validator_set(self.kv, self.height - 1)]
        block = chain.BlockInput(
            height=self.height, time_ns=self.time_ns, chain_id=CHAIN_ID,
            proposer_address=b"\x00" * 20, last_app_hash=self.app_hash,
            decided_last_commit=votes, misbehavior=list(misbehavior or []),
            l1_events=list(l1_events or []), txs=list(txs or []), l2_headers=headers,
            seed_randomness=seed_randomness, l1_confirmed_height=l1_confirmed_height,
            settlement_signatures=list(settlement_signatures or []))
        outcome = chain.finalize_block(self.kv, block)
        self.app_hash = compute_app_hash(self.kv)
        self.all_updates.append(outcome.validator_updates)
        return outcome


def make_driver(stakes: list[int] | None = None, **params: Any) -> Driver:
    return Driver(make_chain(stakes, **params))


def make_l2_driver(stakes: list[int] | None = None, **params: Any) -> Driver:
    """A chain with a registered L2."""
    return Driver(make_chain(stakes, **{**L2_PARAMS, **params}))
