"""A live app REJECTs every crafted attested-events proposal and survives fuzzing.

Issue 9, acceptance 3 and 8, and issue 13, acceptance 8, end to end: a real
`seqset start` process, driven over its ABCI socket without CometBFT. Four
genesis sequencers hold ed25519 keys made here, so the test signs vote
extensions as each of them, and an L2 is registered, so the extensions carry
L1 events, L2 headers, the seed randomness the chain asks for and an L1
height. Settlement is on, and sequencer 1 has rewards at genesis, so a batch
is in flight from height 1 and each sequencer's signer key (made here too)
signs it (issue 14, acceptance 5). Heights 1 and 2 are finalized empty; then
each crafted proposal for height 3 carries the votes for height 2 and must be
answered REJECT, with no crash.
"""

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import event, given, settings
from hypothesis import strategies as st

from abci_app import chain, pb
from abci_app.chain.messages import query as query_pb
from abci_app.devnet.localnet import stop_process, wait_until
from abci_app.devnet.ports import free_port
from abci_app.devnet.relay_testing import (
    BLOCK_ID_FLAG_ABSENT,
    BLOCK_ID_FLAG_COMMIT,
    compute_commit_info,
    get_valset,
    make_attested_tx,
    make_event,
    make_extended_commit,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
    make_settlement_key,
    make_settlement_signature,
    make_validators,
    sign_extension,
)
from abci_app.node.config import CONFIG_RELATIVE_PATH, AppConfig, render_config
from abci_app.relay.attested_tx import ATTESTED_TX_PREFIX, build_attested_tx
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import prune_extended_commit, tally_attested
from abci_app.relay.types import Attested, RelayView, SettlementView
from abci_app.settlement import compute_signer_address
from abci_app.store.kv import MemoryKV

from .abci_client import AbciClient

CHAIN_ID = "seqset-crafted"
PARAMS = RelayParams()  # the genesis defaults the test chain runs with
LOCKED_WEI = 10 * 10**18  # power 10 each at the default power_reduction of 1e18
VALIDATORS = make_validators([10, 10, 10, 10], label="crafted-proposals")
GENESIS_TIME_S = 1_700_000_000
HEIGHT = 3  # the proposal's height
HEIGHT_VOTED = HEIGHT - 1  # the votes it carries; the genesis set signed them
EVENTS = [make_event(nonce) for nonce in (1, 2, 3)]  # LockIncreased 1 ETH for sequencer 1
L2_GENESIS = make_l2_genesis_hash("crafted-proposals/l2")
HEADERS = make_l2_headers(1, 4, L2_GENESIS, label="crafted-proposals/l2")
L1_HEIGHT = 100  # the confirmed L1 height every honest sidecar reports
SETTLEMENT_KEYS = [make_settlement_key(i, label="crafted-proposals") for i in range(4)]
SIGNERS = [compute_signer_address(key) for key in SETTLEMENT_KEYS]
BYZANTINE_KEY = make_settlement_key(99, label="crafted-proposals")
SETTLEMENT_PARAMS = {"l1_chain_id": 31337, "l1_contract_address": "0x" + "5e" * 20,
                     "settlement_interval_blocks": 1}
ACCEPT = int(pb.abci.ResponseProcessProposal.ACCEPT)
REJECT = int(pb.abci.ResponseProcessProposal.REJECT)


# --- the scenario ----------------------------------------------------------------------

def make_genesis() -> bytes:
    """The four sequencers, with the L2 registered and settlement on."""
    sequencers = [
        {"id": v.entry.sequencer_id, "owner": bytes([v.entry.sequencer_id]) * 20,
         "signer": SIGNERS[index], "consensus_pubkey": v.entry.pub_key,
         "locked_wei": LOCKED_WEI, "rewards_accrued_wei": "5" if index == 0 else "0"}
        for index, v in enumerate(VALIDATORS)
    ]
    params = {"l2_chain_id": 901, "l2_genesis_hash": "0x" + L2_GENESIS.hex(),
              **SETTLEMENT_PARAMS}
    return json.dumps(chain.make_genesis_app_state(sequencers, params=params)).encode()


def compute_seed_request() -> int:
    """The L1 height whose randomness the chain asks for at genesis (epoch 2's seed)."""
    kv = MemoryKV()
    chain.init_chain(kv, make_genesis(), CHAIN_ID, GENESIS_TIME_S * 10**9, 1)
    return chain.get_seed_request(kv)


def compute_pending_settlement() -> tuple[int, bytes]:
    """(nonce, digest) of the batch the chain forms at height 1 (sequencer 1's reward)."""
    kv = MemoryKV()
    chain.init_chain(kv, make_genesis(), CHAIN_ID, GENESIS_TIME_S * 10**9, 1)
    chain.finalize_block(kv, chain.BlockInput(
        height=1, time_ns=(GENESIS_TIME_S + 1) * 10**9, chain_id=CHAIN_ID,
        proposer_address=VALIDATORS[0].entry.address, last_app_hash=b"",
        decided_last_commit=[], misbehavior=[], l1_events=[], txs=[]))
    pending = chain.get_pending_settlement(kv)
    assert pending is not None, "a batch should be in flight from height 1"
    return pending


SEED_REQUEST = compute_seed_request()
SETTLE_NONCE, SETTLE_DIGEST = compute_pending_settlement()
SEED = make_randomness(SEED_REQUEST, label="crafted-proposals/l1")
VIEW = RelayView(l2_head=(0, L2_GENESIS), seed_request=SEED_REQUEST)


def make_honest_extension() -> bytes:
    return build_extension(EVENTS, 0, PARAMS, l2_headers=HEADERS, l2_head=(0, L2_GENESIS),
                           randomness=SEED, seed_request=SEED_REQUEST,
                           l1_confirmed_height=L1_HEIGHT)


def make_commit(attesting: int = 3, absent: tuple[int, ...] = (3,)) -> Any:
    """Validators 0..attesting-1 attest EVENTS, HEADERS, SEED and L1_HEIGHT; those in
    `absent` did not vote."""
    extension = make_honest_extension()
    return make_extended_commit(
        VALIDATORS, {index: extension for index in range(attesting)}, HEIGHT_VOTED, CHAIN_ID,
        flags={index: BLOCK_ID_FLAG_ABSENT for index in absent})


def make_honest_tx(commit: Any) -> bytes:
    """What an honest proposer injects: the pruned commit and all that 2/3 attest."""
    valset = get_valset(VALIDATORS)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_attested(pruned, valset, VIEW, PARAMS)
    assert attested == Attested(events=tuple(EVENTS), l2_headers=tuple(HEADERS),
                                seed_randomness=SEED, l1_confirmed_height=L1_HEIGHT)
    tx = build_attested_tx(pruned, attested, PARAMS)
    assert tx is not None
    return tx


HONEST_COMMIT = make_commit()
HONEST_PROPOSED = compute_commit_info(HONEST_COMMIT)
HONEST_TX = make_honest_tx(HONEST_COMMIT)


# --- a live app, driven over its socket -------------------------------------------------

@dataclass
class LiveApp:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def connect(self) -> AbciClient:
        return AbciClient("127.0.0.1", self.port)

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_app(home: Path) -> LiveApp:
    (home / CONFIG_RELATIVE_PATH).parent.mkdir(parents=True)
    port = free_port()
    config = AppConfig(abci_address=f"tcp://127.0.0.1:{port}")
    (home / CONFIG_RELATIVE_PATH).write_text(render_config(config))
    log_path = home / "app.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "abci_app.node.cli", "start", "--home", str(home)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    app = LiveApp(proc, port, log_path)
    try:
        wait_until(f"the app to listen on port {port} (log: {log_path})",
                   lambda: proc.poll() is None and _is_listening(port), timeout_s=20)
    except Exception:
        stop_process(proc)
        raise
    return app


def _timestamp(height: int) -> Timestamp:
    return Timestamp(seconds=GENESIS_TIME_S + height)


def finalize_and_commit(client: AbciClient, height: int, last_commit: Any,
                        txs: list[bytes] | None = None) -> Any:
    """FinalizeBlock then Commit at `height`; returns the FinalizeBlock response."""
    response = client.call(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(
        height=height, time=_timestamp(height), decided_last_commit=last_commit,
        proposer_address=VALIDATORS[0].entry.address, hash=bytes([height]) * 32,
        txs=txs or [])))
    assert response.WhichOneof("value") == "finalize_block", response
    committed = client.call(pb.abci.Request(commit=pb.abci.RequestCommit()))
    assert committed.WhichOneof("value") == "commit", committed
    return response.finalize_block


def bootstrap(client: AbciClient) -> None:
    """Info, InitChain with the four sequencers, then empty heights 1 and 2."""
    info = client.call(pb.abci.Request(info=pb.abci.RequestInfo()))
    assert info.info.last_block_height == 0
    init = client.call(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        time=Timestamp(seconds=GENESIS_TIME_S), chain_id=CHAIN_ID, initial_height=1,
        app_state_bytes=make_genesis())))
    assert sorted(bytes(u.pub_key.ed25519) for u in init.init_chain.validators) == sorted(
        v.entry.pub_key for v in VALIDATORS)
    finalize_and_commit(client, 1, pb.abci.CommitInfo())
    all_signed = compute_commit_info(make_extended_commit(VALIDATORS, {}, 1, CHAIN_ID))
    finalize_and_commit(client, 2, all_signed)


def process_proposal(client: AbciClient, txs: list[bytes], proposed: Any) -> int:
    response = client.call(pb.abci.Request(process_proposal=pb.abci.RequestProcessProposal(
        txs=txs, proposed_last_commit=proposed, height=HEIGHT, time=_timestamp(HEIGHT),
        hash=b"\x33" * 32, proposer_address=VALIDATORS[0].entry.address)))
    assert response.WhichOneof("value") == "process_proposal", response
    return int(response.process_proposal.status)


def query(client: AbciClient, path: str) -> bytes:
    response = client.call(pb.abci.Request(query=pb.abci.RequestQuery(path=path)))
    assert response.query.code == 0, response.query.log
    return bytes(response.query.value)


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_app(tmp_path / "home")
    yield app
    stop_process(app.proc)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One app at height 2, shared by the REJECT cases and the fuzzer (none commits)."""
    app = start_app(tmp_path_factory.mktemp("crafted") / "home")
    try:
        with app.connect() as client:
            bootstrap(client)
        yield app
    finally:
        stop_process(app.proc)


@pytest.fixture(scope="module")
def live_client(live_app: LiveApp) -> Iterator[AbciClient]:
    with live_app.connect() as client:
        yield client


# --- the crafted proposals --------------------------------------------------------------
# Each returns (block txs, proposed_last_commit) and names the reason the app must log.

Crafted = tuple[list[bytes], Any]


def duplicated_extension_fakes_two_thirds(matching_view: bool) -> Crafted:
    # Only validators 0 and 1 attest (20 of 40); vote 0 is repeated over vote 2.
    commit = make_commit(attesting=2, absent=())
    proposed = compute_commit_info(commit)
    commit.votes[2].CopyFrom(commit.votes[0])
    if matching_view:  # as if CometBFT's view were tampered the same way
        proposed = compute_commit_info(commit)
    return [make_attested_tx(commit, EVENTS)], proposed


def tampered_voting_power(matching_view: bool) -> Crafted:
    # Validators 0 and 1 attest; vote 0 claims power 100 so that 110 of 130 > 2/3.
    commit = make_commit(attesting=2, absent=())
    proposed = compute_commit_info(commit)
    commit.votes[0].validator.power = 100
    if matching_view:
        proposed = compute_commit_info(commit)
    return [make_attested_tx(commit, EVENTS)], proposed


def omitted_validator(matching_view: bool) -> Crafted:
    commit = make_commit()
    proposed = compute_commit_info(commit)
    del commit.votes[1]  # it committed, and the proposer leaves it out
    if matching_view:
        proposed = compute_commit_info(commit)
    return [make_attested_tx(commit, EVENTS)], proposed


def absent_flag_changed_to_commit() -> Crafted:
    commit = make_commit(attesting=2, absent=(2, 3))
    proposed = compute_commit_info(commit)
    extension = make_honest_extension()
    vote = commit.votes[3]  # really absent; the proposer forges its key's attestation
    vote.block_id_flag = BLOCK_ID_FLAG_COMMIT
    vote.vote_extension = extension
    vote.extension_signature = sign_extension(VALIDATORS[3].key, extension, HEIGHT_VOTED, 0,
                                              CHAIN_ID)
    return [make_attested_tx(commit, EVENTS)], proposed


def bad_extension_signature() -> Crafted:
    commit = make_commit()
    commit.votes[0].extension_signature = sign_extension(
        VALIDATORS[1].key, commit.votes[0].vote_extension, HEIGHT_VOTED, 0, CHAIN_ID)
    return [make_attested_tx(commit, EVENTS)], HONEST_PROPOSED


def event_not_on_l1() -> Crafted:
    invented = make_event(1)
    invented.l1_tx_hash = b"\xee" * 32  # no validator observed this transaction
    return [make_attested_tx(HONEST_COMMIT, [invented])], HONEST_PROPOSED


def event_beyond_attested() -> Crafted:
    return [make_attested_tx(HONEST_COMMIT, EVENTS + [make_event(4)])], HONEST_PROPOSED


def altered_amount() -> Crafted:
    altered = [EVENTS[0], make_event(2, amount_wei=10**18 + 1), EVENTS[2]]
    return [make_attested_tx(HONEST_COMMIT, altered)], HONEST_PROPOSED


def nonce_gap() -> Crafted:
    return [make_attested_tx(HONEST_COMMIT, [EVENTS[0], EVENTS[2]])], HONEST_PROPOSED


def over_size_cap() -> Crafted:
    # Honest commit and events, padded with more events until it passes the cap.
    padding = [make_event(nonce) for nonce in range(4, 4 + 40_000)]
    tx = make_attested_tx(HONEST_COMMIT, EVENTS + padding)
    assert len(tx) > PARAMS.max_attested_tx_bytes
    return [tx], HONEST_PROPOSED


def attested_tx_not_first() -> Crafted:
    return [b"user tx", HONEST_TX], HONEST_PROPOSED


def forge_l2(**parts: Any) -> Crafted:
    """The honest commit with the given L2 parts claimed and no events."""
    return [make_attested_tx(HONEST_COMMIT, [], **parts)], HONEST_PROPOSED


def header_minority_backs() -> Crafted:
    # Only validators 0 and 1 (20 of 40) report the headers; 2 reports nothing.
    commit = make_commit(attesting=2, absent=())
    return [make_attested_tx(commit, [], HEADERS)], compute_commit_info(commit)


FORGED_HEADERS = make_l2_headers(1, 2, L2_GENESIS, label="forged")


def make_signing_commit() -> Any:
    """All four vote; 0-2 sign the in-flight batch with their stored signer's key, and
    3 (byzantine) with a key that is not its stored signer."""
    keys = [*SETTLEMENT_KEYS[:3], BYZANTINE_KEY]
    extensions = {index: build_extension(
        (), 0, PARAMS, settlement_signature=make_settlement_signature(
            SETTLE_DIGEST, key, SETTLE_NONCE)) for index, key in enumerate(keys)}
    return make_extended_commit(VALIDATORS, extensions, HEIGHT_VOTED, CHAIN_ID)


SIGNING_COMMIT = make_signing_commit()
SIGNING_PROPOSED = compute_commit_info(SIGNING_COMMIT)


def make_settlement_view() -> RelayView:
    signers = {v.entry.address: SIGNERS[i] for i, v in enumerate(VALIDATORS)}
    return RelayView(settlement=SettlementView(SETTLE_NONCE, SETTLE_DIGEST, signers))


def make_honest_signing_tx() -> bytes:
    """What an honest proposer injects for SIGNING_COMMIT: the three good signatures."""
    valset = get_valset(VALIDATORS)
    pruned = prune_extended_commit(SIGNING_COMMIT, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_attested(pruned, valset, make_settlement_view(), PARAMS)
    assert sorted(item.signer for item in attested.settlement_signatures) == sorted(SIGNERS[:3])
    tx = build_attested_tx(pruned, attested, PARAMS)
    assert tx is not None
    return tx


def settlement_signatures_listed(include_byzantine: bool, duplicate: bool = False) -> Crafted:
    order = sorted(range(4), key=lambda index: SIGNERS[index])
    if not include_byzantine:
        order.remove(3)
    listed = [make_settlement_signature(
        SETTLE_DIGEST, BYZANTINE_KEY if index == 3 else SETTLEMENT_KEYS[index], SETTLE_NONCE)
        for index in order]
    if duplicate:
        listed = [listed[0], *listed]
    return [make_attested_tx(SIGNING_COMMIT, [], settlement_signatures=listed)], SIGNING_PROPOSED


def settlement_signature_for_another_batch() -> Crafted:
    first = min(range(3), key=lambda index: SIGNERS[index])
    listed = [make_settlement_signature(SETTLE_DIGEST, SETTLEMENT_KEYS[first], SETTLE_NONCE + 1)]
    return [make_attested_tx(SIGNING_COMMIT, [], settlement_signatures=listed)], SIGNING_PROPOSED


CASES: list[tuple[str, Callable[[], Crafted], str]] = [
    ("duplicated_extension_fakes_two_thirds",
     lambda: duplicated_extension_fakes_two_thirds(False), "vote 2: validator address differs"),
    ("duplicated_extension_in_both_views",
     lambda: duplicated_extension_fakes_two_thirds(True), "do not match the stored validator"),
    ("tampered_voting_power", lambda: tampered_voting_power(False), "vote 0: power 100 != 10"),
    ("tampered_voting_power_in_both_views",
     lambda: tampered_voting_power(True), "do not match the stored validator"),
    ("omitted_validator", lambda: omitted_validator(False), "3 votes != proposed_last_commit"),
    ("omitted_validator_in_both_views",
     lambda: omitted_validator(True), "do not match the stored validator"),
    ("absent_flag_changed_to_commit", absent_flag_changed_to_commit, "vote 3: block_id_flag"),
    ("bad_extension_signature", bad_extension_signature, "vote 0: invalid extension"),
    ("event_not_on_l1", event_not_on_l1, "events #0 is not the attested one"),
    ("event_beyond_attested", event_beyond_attested, "4 events claimed, only 3 attested"),
    ("altered_amount", altered_amount, "events #1 is not the attested one"),
    ("nonce_gap", nonce_gap, "events #1 is not the attested one"),
    ("forged_l2_header", lambda: forge_l2(l2_headers=FORGED_HEADERS),
     "L2 headers #0 is not the attested one"),
    ("l2_header_beyond_attested",
     lambda: forge_l2(l2_headers=HEADERS + make_l2_headers(5, 1, HEADERS[-1].hash)),
     "5 L2 headers claimed, only 4 attested"),
    ("l2_header_not_linked_to_head", lambda: forge_l2(l2_headers=HEADERS[1:]),
     "L2 headers #0 is not the attested one"),
    ("l2_header_backed_by_half", header_minority_backs, "4 L2 headers claimed, only 0"),
    ("forged_randomness",
     lambda: forge_l2(seed_randomness=make_randomness(SEED_REQUEST, label="forged")),
     f"seed randomness for L1 height {SEED_REQUEST} is not attested"),
    ("randomness_not_requested",
     lambda: forge_l2(seed_randomness=make_randomness(SEED_REQUEST + 1)),
     f"seed randomness for L1 height {SEED_REQUEST + 1} is not attested"),
    ("forged_l1_height", lambda: forge_l2(l1_confirmed_height=L1_HEIGHT + 1),
     f"l1_confirmed_height {L1_HEIGHT + 1} != attested {L1_HEIGHT}"),
    ("empty_attested_tx", lambda: forge_l2(), "nothing attested"),
    ("byzantine_settlement_signature_kept", lambda: settlement_signatures_listed(True),
     "is not one the votes carry validly"),
    ("settlement_signature_duplicated", lambda: settlement_signatures_listed(False, True),
     "signers not strictly ascending"),
    ("settlement_signature_for_another_batch", settlement_signature_for_another_batch,
     f"for batch {SETTLE_NONCE + 1} is not one the votes carry validly"),
    ("over_size_cap", over_size_cap, "exceeds max_attested_tx_bytes"),
    ("attested_tx_not_first", attested_tx_not_first, "attested-events tx not first"),
]


@pytest.mark.parametrize(("build", "reason"), [(build, reason) for _, build, reason in CASES],
                         ids=[name for name, _, _ in CASES])
def test_invalid_crafted_proposal_is_rejected(
    live_app: LiveApp, live_client: AbciClient, build: Callable[[], Crafted], reason: str
) -> None:
    txs, proposed = build()
    log_before = len(live_app.read_log())
    assert process_proposal(live_client, txs, proposed) == REJECT
    logged = live_app.read_log()[log_before:]
    assert f"REJECT proposal at height {HEIGHT}: " in logged, logged
    assert reason in logged, f"expected the app to log {reason!r}, got:\n{logged}"
    assert "Traceback" not in logged, logged
    assert live_client.echo("still here") == "still here"


# --- fuzzing the live app (acceptance 8) ------------------------------------------------

def _flip_bit(tx: bytes, position: int) -> bytes:
    index = position // 8 % len(tx)
    return tx[:index] + bytes([tx[index] ^ (1 << position % 8)]) + tx[index + 1:]


# Past the prefix, so most mutants reach decoding and verification; the
# random-bytes strategies cover txs that are not attested-events txs at all.
_positions = st.integers(min_value=len(ATTESTED_TX_PREFIX) * 8, max_value=len(HONEST_TX) * 8 - 1)
_cuts = st.integers(min_value=len(ATTESTED_TX_PREFIX), max_value=len(HONEST_TX) - 1)
MUTATIONS = st.one_of(
    _positions.map(lambda position: _flip_bit(HONEST_TX, position)),
    st.lists(_positions, min_size=2, max_size=8).map(
        lambda positions: _apply_flips(HONEST_TX, positions)),
    _cuts.map(lambda cut: HONEST_TX[:cut]),
    st.tuples(_cuts, st.binary(min_size=1, max_size=64)).map(
        lambda spot: HONEST_TX[:spot[0]] + spot[1] + HONEST_TX[spot[0]:]),
    st.binary(max_size=512).map(lambda body: ATTESTED_TX_PREFIX + body),
    st.binary(max_size=512),
)


def _apply_flips(tx: bytes, positions: list[int]) -> bytes:
    for position in positions:
        tx = _flip_bit(tx, position)
    return tx


@settings(max_examples=200, deadline=None, database=None)
@given(tx=MUTATIONS)
def test_mutated_proposal_is_answered_accept_or_reject(
    live_client: AbciClient, tx: bytes
) -> None:
    status = process_proposal(live_client, [tx], HONEST_PROPOSED)
    event(f"status {status}")  # --hypothesis-show-statistics shows the mix
    assert status in (ACCEPT, REJECT)


@st.composite
def _mutated_views(draw: st.DrawFn) -> tuple[Any, int]:
    """CometBFT's side garbled instead: one vote's power or flag, the round, the height."""
    proposed = pb.abci.CommitInfo()
    proposed.CopyFrom(HONEST_PROPOSED)
    vote = proposed.votes[draw(st.integers(0, len(proposed.votes) - 1))]
    vote.validator.power = draw(st.integers(-(2**63), 2**63 - 1))
    vote.block_id_flag = draw(st.integers(0, 2**31 - 1))  # open enum: any value parses
    proposed.round = draw(st.integers(-(2**31), 2**31 - 1))
    return proposed, draw(st.integers(-(2**63), 2**63 - 1))


@settings(max_examples=50, deadline=None, database=None)
@given(view=_mutated_views())
def test_garbled_proposed_last_commit_is_answered_accept_or_reject(
    live_client: AbciClient, view: tuple[Any, int]
) -> None:
    proposed, height = view
    response = live_client.call(pb.abci.Request(process_proposal=pb.abci.RequestProcessProposal(
        txs=[HONEST_TX], proposed_last_commit=proposed, height=height)))
    assert response.WhichOneof("value") == "process_proposal", response
    assert response.process_proposal.status in (ACCEPT, REJECT)


def test_app_survives_every_crafted_proposal(live_app: LiveApp, live_client: AbciClient) -> None:
    assert live_app.proc.poll() is None, live_app.read_log()
    assert live_client.echo("after the attacks") == "after the attacks"
    with live_app.connect() as fresh:
        info = fresh.call(pb.abci.Request(info=pb.abci.RequestInfo()))
        assert info.info.last_block_height == HEIGHT_VOTED
        # Nothing was applied, so the honest proposal still passes.
        assert process_proposal(fresh, [HONEST_TX], HONEST_PROPOSED) == ACCEPT
    log = live_app.read_log()
    assert "Traceback" not in log and "failed unexpectedly" not in log, log


# --- the control: an honest proposal is accepted and applied ----------------------------

def test_honest_proposal_is_accepted_and_its_events_applied(fresh_app: LiveApp) -> None:
    with fresh_app.connect() as client:
        bootstrap(client)
        assert process_proposal(client, [HONEST_TX], HONEST_PROPOSED) == ACCEPT

        block = finalize_and_commit(client, HEIGHT, HONEST_PROPOSED, txs=[HONEST_TX])
        assert block.tx_results[0].code == 0, block.tx_results[0].log

        nonce = query_pb.QueryL1LastNonceResponse.FromString(query(client, "/l1/last_nonce"))
        assert nonce.nonce == len(EVENTS)
        sequencer = query_pb.QuerySequencerResponse.FromString(query(client, "/sequencer/1"))
        assert int(sequencer.sequencer.locked_wei) == LOCKED_WEI + len(EVENTS) * 10**18
        head = query_pb.QueryL2HeadResponse.FromString(query(client, "/l2/head"))
        assert (head.height, bytes(head.hash)) == (len(HEADERS), bytes(HEADERS[-1].hash))


def test_honest_settlement_signatures_are_accepted_and_collected(fresh_app: LiveApp) -> None:
    """The byzantine signature pruned, the honest three are accepted and stored."""
    tx = make_honest_signing_tx()
    with fresh_app.connect() as client:
        bootstrap(client)
        assert process_proposal(client, [tx], SIGNING_PROPOSED) == ACCEPT
        block = finalize_and_commit(client, HEIGHT, SIGNING_PROPOSED, txs=[tx])
        assert block.tx_results[0].code == 0, block.tx_results[0].log
        added = [e for e in block.events if e.type == "settlement_signatures_added"]
        assert added, [e.type for e in block.events]
        attributes = {a.key: a.value for a in added[0].attributes}
        assert attributes["added"] == "3" and attributes["complete"] == "true", attributes
