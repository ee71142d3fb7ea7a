"""Builders for chain tests: keys, a genesis state, blocks, signed txs and L1 events."""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey

from abci_app import chain, pb
from abci_app.chain import txsign
from abci_app.chain.messages import tx as tx_pb
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
    "max_missed_productions": 3,
    "missed_production_jail_s": 600,
    "withdrawal_delay_s": 100,
    "reward_per_l2_block_wei": 1000,
}


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


def make_l2_progress_tx(signer: int, nonce: int, sequencer_id: int, l2_height: int,
                        chain_id: str = CHAIN_ID) -> bytes:
    body = make_body(nonce, chain_id, l2_progress=tx_pb.L2Progress(
        sequencer_id=sequencer_id, l2_height=l2_height,
        l2_block_hash=hashlib.sha256(b"l2-%d" % l2_height).digest()))
    return txsign.sign_tx(body, signer_key(signer))


def make_unjail_tx(signer: int, nonce: int, sequencer_id: int) -> bytes:
    body = make_body(nonce, unjail=tx_pb.Unjail(sequencer_id=sequencer_id))
    return txsign.sign_tx(body, signer_key(signer))


def l1_locked(nonce: int, index: int, amount: int) -> Any:
    return pb.events.L1Event(nonce=nonce, locked=pb.events.Locked(
        sequencer_id=index, owner=owner_address(index), signer=signer_address(index),
        consensus_pubkey=consensus_pubkey(index), amount_wei=str(amount)))


def l1_event(nonce: int, kind: str, **fields: Any) -> Any:
    classes = {"lock_increased": pb.events.LockIncreased, "signer_changed": pb.events.SignerChanged,
               "withdrawal_requested": pb.events.WithdrawalRequested,
               "unlock_initiated": pb.events.UnlockInitiated, "released": pb.events.Released,
               "rewards_claimed": pb.events.RewardsClaimed}
    return pb.events.L1Event(nonce=nonce, **{kind: classes[kind](**fields)})


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
              advance_ns: int = BLOCK_INTERVAL_NS) -> chain.BlockOutcome:
        self.height += 1
        self.time_ns += advance_ns
        if votes is None:
            votes = [chain.VoteInfo(e.address, e.power, True)
                     for e in chain.get_validator_set(self.kv, self.height - 1)]
        block = chain.BlockInput(
            height=self.height, time_ns=self.time_ns, chain_id=CHAIN_ID,
            proposer_address=b"\x00" * 20, last_app_hash=self.app_hash,
            decided_last_commit=votes, misbehavior=list(misbehavior or []),
            l1_events=list(l1_events or []), txs=list(txs or []))
        outcome = chain.finalize_block(self.kv, block)
        self.app_hash = compute_app_hash(self.kv)
        self.all_updates.append(outcome.validator_updates)
        return outcome


def make_driver(stakes: list[int] | None = None, **params: Any) -> Driver:
    return Driver(make_chain(stakes, **params))
