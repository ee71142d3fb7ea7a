"""Issue 9, live: a lying sidecar moves nothing, and a fifth sequencer joins without a halt.

Both tests run a real 4-validator net on anvil. The liar is a gRPC server in
this process that serves node 3's app, which itself is unmodified; the joiner
is a fifth node that syncs as a full node, then locks on L1.
"""

import base64
import importlib
import re
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from abci_app import pb
from abci_app.devnet.localnet import LocalNode, wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet, L1Settings
from abci_app.devnet.ports import free_port
from abci_app.l1 import contract
from abci_app.l1.client import SidecarClient
from abci_app.node.config import CONFIG_RELATIVE_PATH
from abci_app.node.home import (
    read_signer_key,
    read_validator_pubkey,
)
from abci_app.relay.attested_tx import decode_attested_tx
from abci_app.valset import compute_consensus_address

# The generated servicer; importable once pb has put _gen on sys.path.
sidecar_pb2_grpc: Any = importlib.import_module("seqset.v1.sidecar_pb2_grpc")

BYZANTINE = 3  # node 3's app asks the liar instead of a real sidecar
FAKE_SEQUENCER_ID = 77
ALTERATION_WEI = 7 * TOKEN
BLOCK_ID_FLAG_COMMIT = pb.validator.BLOCK_ID_FLAG_COMMIT


# --- shared helpers ----------------------------------------------------------------------


@dataclass(frozen=True)
class AttestedBlock:
    """A block whose first tx carries attested L1 events, as decoded from CometBFT's RPC."""

    height: int
    code: int  # the attested tx's result code: 0 means its events were applied
    events: list[Any]  # pb.events.L1Event
    votes: list[Any]  # pb.abci.ExtendedVoteInfo of the commit for height - 1


def get_attested_blocks(node: LocalNode, first: int, last: int) -> list[AttestedBlock]:
    found = []
    for height in range(max(first, 1), last + 1):
        txs = node.rpc("block", height=height)["block"]["data"]["txs"] or []
        body = decode_attested_tx(base64.b64decode(txs[0])) if txs else None
        if body is None:
            continue
        commit = pb.abci.ExtendedCommitInfo.FromString(body.extended_commit_info)
        result = node.rpc("block_results", height=height)["txs_results"][0]
        found.append(AttestedBlock(height, int(result.get("code", 0)), list(body.events),
                                   list(commit.votes)))
    return found


def get_applied_events(blocks: list[AttestedBlock]) -> list[Any]:
    return [event for block in blocks if block.code == 0 for event in block.events]


def get_extension_events(vote: Any) -> list[Any]:
    return list(pb.relay.VoteExtension.FromString(bytes(vote.vote_extension)).events)


def get_consensus_address(node: LocalNode) -> bytes:
    return compute_consensus_address(read_validator_pubkey(node.home))


def get_cometbft_validators(node: LocalNode, height: int) -> dict[bytes, int]:
    """CometBFT's own validator set at `height`: consensus address -> power."""
    answer = node.rpc("validators", height=height, per_page=100)
    return {bytes.fromhex(v["address"]): int(v["voting_power"]) for v in answer["validators"]}


def wait_for_nonce(net: L1Localnet, nonce: int, what: str, timeout_s: float = 90) -> None:
    for node in net.nodes:
        wait_until(f"node {node.index} to apply L1 nonce {nonce} ({what})",
                   lambda node=node: net.last_applied_nonce(node.index) >= nonce, timeout_s)


def count_log_lines(net: L1Localnet, needle: str) -> dict[int, int]:
    """Lines of each node's app.log that contain `needle`."""
    counts = {}
    for node in net.nodes:
        path = node.home / "logs" / "app.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        counts[node.index] = sum(1 for line in text.splitlines() if needle in line)
    return counts


def assert_no_rejects_or_halts(net: L1Localnet) -> None:
    rejects = count_log_lines(net, "REJECT proposal")
    halts = count_log_lines(net, "HALT")
    print(f"'REJECT proposal' lines per node: {rejects}; 'HALT' lines per node: {halts}")
    assert not any(rejects.values()), f"an honest proposal was rejected: {rejects}"
    assert not any(halts.values()), f"an app halted: {halts}"


def set_app_sidecar_address(node: LocalNode, address: str) -> None:
    path = node.home / CONFIG_RELATIVE_PATH
    text, count = re.subn(r'(?m)^sidecar_address = ".*"$', f'sidecar_address = "{address}"',
                          path.read_text())
    assert count == 1, f"{path} has no single sidecar_address line"
    path.write_text(text)


# --- the byzantine sidecar ---------------------------------------------------------------


def compute_altered_event(event: Any) -> Any:
    """The same event with its amount raised: well-formed, signed, and false."""
    altered = pb.events.L1Event()
    altered.CopyFrom(event)
    body = getattr(altered, altered.WhichOneof("kind"))
    if "amount_wei" in body.DESCRIPTOR.fields_by_name:
        body.amount_wei = str(int(body.amount_wei) + ALTERATION_WEI)
    return altered


def build_fake_event(nonce: int, l1_height: int) -> Any:
    """A Locked event that L1 never emitted: a new sequencer with a large lock."""
    return pb.events.L1Event(
        nonce=nonce, l1_block_number=l1_height, l1_block_hash=b"\xfa" * 32,
        l1_tx_hash=b"\xfb" * 32, log_index=0,
        locked=pb.events.Locked(sequencer_id=FAKE_SEQUENCER_ID, owner=b"\xee" * 20,
                                signer=b"\xee" * 20, consensus_pubkey=b"\x77" * 32,
                                amount_wei=str(5_000 * TOKEN)))


class ByzantineSidecar(sidecar_pb2_grpc.SidecarServicer):  # type: ignore[misc]
    """Serves the honest view with every amount altered, then a fabricated next event."""

    def __init__(self, honest_address: str) -> None:
        self.honest = SidecarClient(honest_address)
        self.server: grpc.Server | None = None
        self.altered_nonces: set[int] = set()
        self.fake_nonces: set[int] = set()

    def Observed(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC names)
        real = self.honest.observed(request.after_nonce, request.max_events,
                                    request.max_bytes, 0.15)
        if request.max_events and len(real) >= request.max_events:
            real = real[: request.max_events - 1]  # leave room for the fabricated event
        lies = [compute_altered_event(event) for event in real]
        last_nonce = int(request.after_nonce) + len(lies)
        l1_height = int(real[-1].l1_block_number) if real else 1
        lies.append(build_fake_event(last_nonce + 1, l1_height))
        self.altered_nonces.update(int(e.nonce) for e in lies[:-1])
        self.fake_nonces.add(last_nonce + 1)
        return pb.sidecar.ObservedResponse(events=lies, confirmed_l1_height=l1_height,
                                           last_observed_nonce=last_nonce + 1)

    def Status(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.sidecar.StatusResponse()

    def start(self, address: str) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        sidecar_pb2_grpc.add_SidecarServicer_to_server(self, self.server)
        assert self.server.add_insecure_port(address) != 0, f"liar cannot listen on {address}"
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=0).wait()
        self.honest.close()


@pytest.fixture
def byzantine_net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str
                  ) -> Iterator[tuple[L1Localnet, ByzantineSidecar]]:
    net = L1Localnet(tmp_path_factory.mktemp("byzantine"), 4, block_time_ms=300,
                     cometbft=cometbft_binary)
    liar = ByzantineSidecar(net.sidecar_address(0))
    try:
        net.init()
        # Started piece by piece (not net.start()), so node 3's address is not rewritten.
        net.write_app_sidecar_addresses()
        liar_address = f"127.0.0.1:{free_port()}"
        set_app_sidecar_address(net.nodes[BYZANTINE], liar_address)
        for index in range(len(net.nodes)):
            if index != BYZANTINE:
                net.start_sidecar(index)
        liar.start(liar_address)
        net.net.start()
        net.net.wait_for_height(3)
        yield net, liar
    finally:
        net.stop()
        liar.stop()


def test_byzantine_extensions_are_never_applied(
    byzantine_net: tuple[L1Localnet, ByzantineSidecar],
) -> None:
    net, liar = byzantine_net
    dep = net.deployment
    start_nonce, start_height = net.last_applied_nonce(), net.nodes[0].height()
    contract.increase_lock(dep, net.owner(0).private_key, 1, 50 * TOKEN)
    contract.request_withdrawal(dep, net.owner(1).private_key, 2, 20 * TOKEN)
    end_nonce = start_nonce + 2
    wait_for_nonce(net, end_nonce, "increase and withdrawal under a byzantine validator")
    applied_height = net.nodes[0].height()
    net.net.wait_for_height(applied_height + 5)
    end_height = net.nodes[0].height()

    # The chain applied exactly L1's events, with L1's amounts.
    blocks = get_attested_blocks(net.nodes[0], start_height, end_height)
    applied = get_applied_events(blocks)
    l1_logs = {log.nonce: log for log in contract.get_locking_logs(
        dep, dep.deploy_block, int(dep.w3.eth.block_number))}
    assert [int(e.nonce) for e in applied] == list(range(start_nonce + 1, end_nonce + 1))
    for event in applied:
        log = l1_logs[int(event.nonce)]
        body = getattr(event, event.WhichOneof("kind"))
        print(f"applied nonce {event.nonce}: {log.name} seq {log.sequencer_id} "
              f"amount {body.amount_wei} (L1 {log.args['amount']})")
        assert int(body.amount_wei) == int(log.args["amount"])
        assert bytes(event.l1_tx_hash) == log.tx_hash
    for seq_id in range(1, 5):
        on_chain = net.query(f"/sequencer/{seq_id}").sequencer
        assert int(on_chain.locked_wei) == contract.get_sequencer(dep, seq_id).amount_wei
    l1_withdrawals = [w.amount_wei for w in contract.get_pending_withdrawals(dep, 2)]
    assert [int(w.amount_wei) for w in net.query("/withdrawals").withdrawals] == l1_withdrawals
    assert l1_withdrawals == [20 * TOKEN]

    # The fabricated event left no trace: no sequencer, no noop, no consumed nonce.
    assert [int(s.id) for s in net.query("/sequencers").sequencers] == [1, 2, 3, 4]
    assert list(net.query("/l1/noops").noops) == []
    assert net.last_applied_nonce() == contract.get_event_nonce(dep) == end_nonce
    with pytest.raises(RuntimeError, match="not found"):
        net.query(f"/sequencer/{FAKE_SEQUENCER_ID}")

    # The lies were really on the wire: the liar's signed extensions sit in the commits.
    liar_address = get_consensus_address(net.nodes[BYZANTINE])
    lying_votes = [(block.height, get_extension_events(vote)) for block in blocks
                   for vote in block.votes
                   if bytes(vote.validator.address) == liar_address and vote.vote_extension]
    print(f"liar served altered nonces {sorted(liar.altered_nonces)} and fabricated "
          f"{len(liar.fake_nonces)} nonces; {len(lying_votes)} of {len(blocks)} attesting "
          f"commits carry its extension")
    assert lying_votes, "no commit carried the byzantine validator's extension"
    for _, events in lying_votes:
        assert any(int(e.locked.sequencer_id) == FAKE_SEQUENCER_ID for e in events)
        assert all(e.SerializeToString() not in {a.SerializeToString() for a in applied}
                   for e in events)

    # The chain went on, and nobody rejected an honest proposal.
    print(f"heights {start_height} -> {end_height} (events applied by {applied_height})")
    assert end_height >= applied_height + 5
    assert_no_rejects_or_halts(net)


# --- a fifth sequencer joins -------------------------------------------------------------


def send_confirmed(net: L1Localnet, send: Any) -> int:
    """Sends an L1 tx, mines its confirmations, and returns the event nonce it emitted."""
    send()
    net.anvil.mine(net.settings.confirmations)
    return contract.get_event_nonce(net.deployment)


def find_applied_height(blocks: list[AttestedBlock], nonce: int) -> int:
    return next(b.height for b in blocks if b.code == 0 and any(e.nonce == nonce for e in b.events))


@pytest.fixture
def join_net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str
             ) -> Iterator[L1Localnet]:
    # L1 mines only on transactions, so the test decides when events confirm.
    with L1Localnet(tmp_path_factory.mktemp("join"), 4, block_time_ms=300,
                    settings=L1Settings(l1_block_time_s=None),
                    cometbft=cometbft_binary).running() as net:
        yield net


def test_fifth_sequencer_joins_and_attests_without_halt(join_net: L1Localnet) -> None:
    net, dep = join_net, join_net.deployment
    first_height = net.nodes[0].height()
    node = net.add_full_node()
    net.start_sidecar(node.index)
    node.start()
    wait_until("node 4 to sync as a full node",
               lambda: not node.rpc("status")["sync_info"]["catching_up"]
               and node.height() >= net.nodes[0].height() - 1, 120)

    # Lock from a spare owner with node 4's own consensus and signer keys.
    owner = net.owner(node.index)
    signer, _ = read_signer_key(node.home)
    lock_nonce = send_confirmed(net, lambda: contract.lock(
        dep, owner.private_key, dep.w3.to_checksum_address(signer),
        read_validator_pubkey(node.home), net.settings.genesis_lock_wei))
    seq_id = int(dep.locking.functions.sequencerOfOwner(owner.address).call())
    wait_for_nonce(net, lock_nonce, "node 4's lock")
    # An event attested right across the change, while the set goes from 4 to 5.
    across_nonce = send_confirmed(net, lambda: contract.increase_lock(
        dep, net.owner(0).private_key, 1, 10 * TOKEN))
    wait_until("the chain's /validators to list 5",
               lambda: len(net.query("/validators").validators) == 5, 60)
    wait_until("CometBFT's /validators to list 5",
               lambda: len(net.nodes[0].rpc("validators")["validators"]) == 5, 60)
    wait_for_nonce(net, across_nonce, "increase across the change")

    # Without node 1's sidecar, only node 4's vote lifts an event past 2/3.
    net.stop_sidecar(1)
    joined_nonce = send_confirmed(net, lambda: contract.increase_lock(
        dep, owner.private_key, seq_id, 10 * TOKEN))
    wait_for_nonce(net, joined_nonce, "increase attested with node 4's vote")
    last_height = net.nodes[0].height()

    blocks = get_attested_blocks(net.nodes[0], first_height, last_height)
    lock_height = find_applied_height(blocks, lock_nonce)
    change_height = next(h for h in range(lock_height, last_height + 1)
                         if len(get_cometbft_validators(net.nodes[0], h)) == 5)
    print(f"node 4 = sequencer {seq_id}: lock applied at {lock_height}, "
          f"CometBFT set of 5 from {change_height}")
    assert change_height == lock_height + 2  # updates take effect at H+2
    assert (int(net.query(f"/sequencer/{seq_id}").sequencer.locked_wei)
            == contract.get_sequencer(dep, seq_id).amount_wei)

    # Each tally used the set that signed the height before it.
    joiner = get_consensus_address(node)
    for block in blocks:
        signing_set = get_cometbft_validators(net.nodes[0], block.height - 1)
        voters = {bytes(v.validator.address): int(v.validator.power) for v in block.votes}
        attesters = sum(1 for v in block.votes if v.vote_extension)
        print(f"height {block.height}: nonces {[int(e.nonce) for e in block.events]}, "
              f"{len(voters)} votes ({attesters} with extensions) vs set of "
              f"{len(signing_set)} at {block.height - 1}, code {block.code}")
        assert voters == signing_set and block.code == 0
    joined = next(b for b in blocks if any(e.nonce == joined_nonce for e in b.events))
    joiner_vote = next(v for v in joined.votes if bytes(v.validator.address) == joiner)
    assert joiner_vote.block_id_flag == BLOCK_ID_FLAG_COMMIT
    assert joined_nonce in [int(e.nonce) for e in get_extension_events(joiner_vote)]

    net.net.wait_for_height(change_height + 5)
    print(f"heights: {first_height} -> {net.nodes[0].height()} "
          f"(change at {change_height})")
    assert_no_rejects_or_halts(net)
