"""Issue 13, acceptances 4 and 5: lies and out-of-turn blocks earn nothing and are caught.

A real 4-validator net (cometbft, L1 and L2 anvils, sidecars, one agent each).
Every app reads its sidecar through a proxy in this process; a proxy can be
switched to lying: it then reports, after the chain's attested L2 head, a run
of well-formed, linked L2 headers that the L2 node does not have, all signed
as produced by its validator. With that validator the scheduled producer and
its agent stopped, nothing fabricated is attested, the producer earns nothing
for it, and it is replaced after the timeout; its L2Progress-style tx (the
removed message) is refused. Separately, a block mined on the L2 node with
another sequencer's coinbase is attested as out of turn and earns nothing.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from abci_app import pb
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.txsign import sign_tx
from abci_app.devnet.l2_audit import get_attested_headers, get_events, get_signers
from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.devnet.ports import free_ports
from abci_app.errors import UnknownMessageError
from abci_app.l1.client import CHANNEL_OPTIONS, OBSERVED_METHOD, STATUS_METHOD
from abci_app.node.home import read_signer_key
from abci_app.relay.attested_tx import decode_attested_tx

pytestmark = pytest.mark.integration

ROTATION_TIMEOUT_S = 5
SETTINGS = L2Settings(block_interval_ms=500, epoch_length=20,
                      rotation_timeout_s=ROTATION_TIMEOUT_S)
FAKE_RUN = 3  # fabricated headers per answer
MIN_HEIGHTS_LEFT = 8


class SidecarProxy:
    """Forwards Observed and Status to a real sidecar; when `liar_signer` is set, replaces
    the L2 headers with a fabricated run after the asked height, linked to the real block
    there, each claiming `liar_signer` as its producer."""

    def __init__(self, sidecar: str, net: L2Localnet) -> None:
        self.channel = grpc.insecure_channel(sidecar, options=CHANNEL_OPTIONS)
        self.net = net
        self.liar_signer: bytes | None = None
        self.fabricated: set[bytes] = set()  # hashes of every header it made up
        self.lies_told = 0
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        observed_req, observed_resp = pb.sidecar.ObservedRequest, pb.sidecar.ObservedResponse
        self.forward_observed = self.channel.unary_unary(
            OBSERVED_METHOD, request_serializer=observed_req.SerializeToString,
            response_deserializer=observed_resp.FromString)
        self.forward_status = self.channel.unary_unary(
            STATUS_METHOD, request_serializer=pb.sidecar.StatusRequest.SerializeToString,
            response_deserializer=pb.sidecar.StatusResponse.FromString)
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "seqset.v1.Sidecar", {
                "Observed": grpc.unary_unary_rpc_method_handler(
                    self.observed, request_deserializer=observed_req.FromString,
                    response_serializer=observed_resp.SerializeToString),
                "Status": grpc.unary_unary_rpc_method_handler(
                    lambda request, context: self.forward_status(request, timeout=1.0),
                    request_deserializer=pb.sidecar.StatusRequest.FromString,
                    response_serializer=pb.sidecar.StatusResponse.SerializeToString),
            })])

    def start(self, address: str) -> None:
        assert self.server.add_insecure_port(address) != 0, f"proxy cannot listen on {address}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=0).wait()
        self.channel.close()

    def observed(self, request: Any, context: Any) -> Any:
        response = self.forward_observed(request, timeout=1.0)
        signer = self.liar_signer
        if signer is None or not request.max_l2_headers:
            return response
        del response.l2_headers[:]
        response.l2_headers.extend(self.fabricate(int(request.after_l2_height), signer))
        return response

    def fabricate(self, after: int, signer: bytes) -> list[Any]:
        parent = self.net.l2_block(after)
        assert parent is not None, f"the L2 has no block {after}"
        headers, parent_hash = [], parent.hash
        for height in range(after + 1, after + 1 + FAKE_RUN):
            fake = hashlib.sha256(b"fabricated" + parent_hash + height.to_bytes(8, "big"))
            headers.append(pb.l2.L2Header(height=height, hash=fake.digest(),
                                          parent_hash=parent_hash, producer=signer))
            parent_hash = fake.digest()
        with self.lock:
            self.fabricated.update(bytes(h.hash) for h in headers)
            self.lies_told += 1
        return headers


@pytest.fixture
def proxied_net(tmp_path: Path, cometbft_binary: str
                ) -> Iterator[tuple[L2Localnet, list[SidecarProxy]]]:
    net = L2Localnet(tmp_path / "net", 4, block_time_ms=500, l2=SETTINGS,
                     cometbft=cometbft_binary)
    proxies = [SidecarProxy(net.sidecar_address(i), net) for i in range(4)]
    try:
        net.init()
        for index, address in enumerate(f"127.0.0.1:{p}" for p in free_ports(4)):
            net.route_app_to_sidecar(index, address)
            proxies[index].start(address)
        net.start()
        net.net.wait_for_height(3)
        net.wait_for_attested_l2_height(2, timeout_s=60)
        yield net, proxies
    finally:
        net.stop()
        for proxy in proxies:
            proxy.stop()


def wait_mid_epoch(net: L2Localnet) -> int:
    """The L2 head's height once the next height is well inside its epoch."""
    def ready() -> int | None:
        head = net.l2_head().height
        left = SETTINGS.epoch_length - head % SETTINGS.epoch_length
        return head if left >= MIN_HEIGHTS_LEFT else None

    height: int = wait_until("the next L2 height to be well inside its epoch", ready, 60)
    return height


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sign_l2_progress(net: L2Localnet, index: int, l2_height: int, l2_hash: bytes) -> bytes:
    """The removed L2Progress{sequencer_id, l2_height, l2_block_hash} (TxBody field 11),
    signed by node `index`'s signer: progress it claims and did not make."""
    signer, key = read_signer_key(net.nodes[index].home)
    nonce = int(net.query(f"/account/{signer.lower()}").account.nonce)
    body = tx_pb.TxBody(chain_id=net.net.chain_id, nonce=nonce).SerializeToString()
    old = (b"\x08" + encode_varint(index + 1) + b"\x10" + encode_varint(l2_height)
           + b"\x1a\x20" + l2_hash)
    raw = tx_pb.TxBody.FromString(body + b"\x5a" + encode_varint(len(old)) + old)
    return sign_tx(raw, key)


def get_epoch_rewards(net: L2Localnet, node: int, epoch: int) -> dict[int, int]:
    last = net.nodes[node].height()
    events = get_events(net.nodes[node], max(last - 200, 1), last, ("rewards_accrued",))
    return {int(e.attributes["sequencer_id"]): int(e.attributes["amount_wei"])
            for e in events if int(e.attributes["epoch"]) == epoch}


def get_lies_in_extensions(net: L2Localnet, node: int, fabricated: set[bytes]) -> int:
    """Fabricated headers that reached an attested tx's commit (so the tally saw them)."""
    last = net.nodes[node].height()
    count = 0
    for height in range(max(last - 100, 1), last + 1):
        txs = net.nodes[node].rpc("block", height=height)["block"]["data"]["txs"] or []
        body = decode_attested_tx(base64.b64decode(txs[0])) if txs else None
        if body is None:
            continue
        commit = pb.abci.ExtendedCommitInfo.FromString(body.extended_commit_info)
        for vote in commit.votes:
            ext = pb.relay.VoteExtension.FromString(bytes(vote.vote_extension))
            count += sum(1 for h in ext.l2_headers if bytes(h.hash) in fabricated)
    return count


def test_a_lying_sidecar_and_a_silent_producer_earn_nothing_and_are_replaced(
    proxied_net: tuple[L2Localnet, list[SidecarProxy]],
) -> None:
    net, proxies = proxied_net
    head = wait_mid_epoch(net)
    victim = net.scheduled_producer(head + 1)
    index = victim - 1
    live = next(n.index for n in net.nodes if n.index != index)
    signers = get_signers(net.nodes[live])
    # The producer stops producing and its sidecar claims progress it did not make
    net.stop_agent(index)
    proxies[index].liar_signer = signers[victim]
    last = net.l2_head()
    assert net.scheduled_producer(last.height + 1) == victim, "the victim's turn ended meanwhile"
    # ... and so does its L2Progress-style tx (the removed message): refused
    fake_hash = hashlib.sha256(b"fabricated" + last.hash).digest()
    answer = net.nodes[index].broadcast_tx(sign_l2_progress(net, index, last.height + 1, fake_hash))
    assert int(answer["code"]) == UnknownMessageError.code, answer
    # Replaced after the timeout: a real block by another sequencer
    first = net.wait_for_l2_height(last.height + 1, timeout_s=60)
    assert first.producer != signers[victim]
    net.wait_for_attested_l2_height(first.height, timeout_s=30, node=live)
    # The lie reached the proposers (in the commits of attested txs) but none was attested
    seen = get_lies_in_extensions(net, live, proxies[index].fabricated)
    attested = get_attested_headers(net.nodes[live], 1, net.nodes[live].height())
    print(f"lies told {proxies[index].lies_told}, fabricated headers in commits {seen}, "
          f"attested headers {len(attested)}; sequencer {victim} replaced by "
          f"0x{first.producer.hex()} after an L2 gap of {first.timestamp_s - last.timestamp_s}s")
    assert seen > 0, "the fabricated headers never reached an extension: the test tested nothing"
    for header in attested:
        real = net.l2_block(int(header.header.height))
        assert real is not None and bytes(header.header.hash) == real.hash, header
    assert not {bytes(h.header.hash) for h in attested} & proxies[index].fabricated
    # The fault is recorded: the slash and the producer jail
    slashes = [s.reason for s in net.query("/slashes", live).slashes if s.sequencer_id == victim]
    assert slashes == ["missed_production"], slashes
    assert net.query(f"/sequencer/{victim}", live).sequencer.producer_jailed_until_ns > 0
    # It earns nothing it did not produce: when the epoch closes, its reward counts only
    # the real L2 blocks it made
    epoch = (last.height) // SETTINGS.epoch_length
    end = (epoch + 1) * SETTINGS.epoch_length
    net.wait_for_attested_l2_height(end + 1, timeout_s=60, node=live)
    real_blocks = sum(1 for h in range(epoch * SETTINGS.epoch_length + 1, end + 1)
                      if (b := net.l2_block(h)) is not None and b.producer == signers[victim])
    reward = int(net.query("/params", live).params.reward_per_l2_block_wei)
    rewards = get_epoch_rewards(net, live, epoch)
    assert rewards.get(victim, 0) == real_blocks * reward, (rewards, real_blocks)


def test_a_block_mined_out_of_turn_earns_nothing_and_is_recorded(
    proxied_net: tuple[L2Localnet, list[SidecarProxy]],
) -> None:
    net, _ = proxied_net
    head = wait_mid_epoch(net)
    scheduled = net.scheduled_producer(head + 1)
    signers = get_signers(net.nodes[0])
    intruder = next(seq for seq in sorted(signers) if seq != scheduled)
    # Hold the scheduled agent, so the intruder's block is the only one at its height
    net.stop_agent(scheduled - 1)
    height = net.l2_head().height + 1
    assert net.scheduled_producer(height) == scheduled, "the turn ended meanwhile"
    net.l2.rpc("anvil_setCoinbase", ["0x" + signers[intruder].hex()])
    net.l2.rpc("evm_mine", [])
    net.start_agent(scheduled - 1)
    block = net.l2_block(height)
    assert block is not None and block.producer == signers[intruder]
    net.wait_for_attested_l2_height(height, timeout_s=30)
    # Recorded: the event and the intruder's counter
    last = net.nodes[0].height()
    events = [e for e in get_events(net.nodes[0], max(last - 60, 1), last, ("l2_out_of_turn",))
              if int(e.attributes["l2_height"]) == height]
    assert len(events) == 1, events
    assert events[0].attributes["producer"] == "0x" + signers[intruder].hex()
    assert int(events[0].attributes["scheduled_sequencer_id"]) == scheduled
    counters = {int(s.id): int(s.out_of_turn_blocks) for s in net.query("/sequencers").sequencers}
    assert counters == {seq: int(seq == intruder) for seq in signers}, counters
    # Earns nothing: when the epoch closes, the intruder is paid nothing for it and the
    # scheduled producer only for the blocks it made
    epoch = (height - 1) // SETTINGS.epoch_length
    end = (epoch + 1) * SETTINGS.epoch_length
    net.wait_for_attested_l2_height(end + 1, timeout_s=60)
    producers = [b.producer for h in range(epoch * SETTINGS.epoch_length + 1, end + 1)
                 if (b := net.l2_block(h)) is not None]
    reward = int(net.query("/params").params.reward_per_l2_block_wei)
    rewards = get_epoch_rewards(net, 0, epoch)
    print(f"out-of-turn block {height} by sequencer {intruder} (scheduled {scheduled}); "
          f"epoch {epoch} rewards {rewards}")
    assert intruder not in rewards, rewards
    assert rewards[scheduled] == producers.count(signers[scheduled]) * reward, rewards
    # Nobody else is at fault: the scheduled producer kept its turn (whether the intruder's
    # record also carries a producer fault is the chain's penalty policy, not asserted here)
    blamed = {int(s.sequencer_id) for s in net.query("/slashes").slashes}
    assert blamed <= {intruder}, f"slashed besides the intruder: {blamed}"
