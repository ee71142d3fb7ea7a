"""Signed chain txs through CometBFT's RPC on a real single-validator node.

Every result is read back twice: through abci_query (one answer with a Merkle
proof checked against the app hash in the next block's header) and through the
seqset.v1.Query gRPC service. Mempool caching is off (cache_size = 0) so that
a replayed tx reaches the app's CheckTx and is rejected by its nonce rule, not
by CometBFT's duplicate cache.
"""

import base64
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from coincurve import PrivateKey
from nacl.signing import SigningKey

from abci_app import chain
from abci_app.chain import keys
from abci_app.chain.messages import query
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.state import ACTIVE, JAILED
from abci_app.chain.txsign import SECP256K1_N, sign_tx
from abci_app.devnet.localnet import Localnet, LocalNode, wait_until
from abci_app.devnet.ports import free_ports
from abci_app.errors import (
    BadNonceError,
    BadSignatureError,
    JailPeriodNotOverError,
    NotJailedError,
    QueryNotFoundError,
    UnauthorizedSignerError,
    UnknownMessageError,
)
from abci_app.handlers.query_service import QueryStub
from abci_app.node.home import read_signer_key, sequencer_entry, set_toml_value
from abci_app.store.proof import verify_proof

SEQUENCER_ID = 1
# A second genesis sequencer, jailed until JAIL_S after the test starts, whose signer is
# the node's signer key: the node can send its Unjail. Its 1 ETH is 1 power beside the
# node's 1000, so it never matters to consensus once back in the set.
JAILED_ID = 2
JAIL_S = 8


# --- helpers ------------------------------------------------------------------------------


def jailed_sequencer(signer: str) -> dict[str, Any]:
    pub_key = bytes(SigningKey(b"\x02" * 32).verify_key)
    entry = sequencer_entry(JAILED_ID, signer, pub_key, 10**18)
    return {**entry, "status": "jailed", "jailed_until_ns": time.time_ns() + JAIL_S * 10**9}


def start_net(base: Path, cometbft: str, params: dict[str, Any] | None = None
              ) -> tuple[Localnet, Any]:
    """One validator with the gRPC query service on, and a jailed second sequencer
    sharing its signer; returns (net, Query stub)."""
    (grpc_port,) = free_ports(1)
    address = f"127.0.0.1:{grpc_port}"
    net = Localnet(base, 1, block_time_ms=200, cometbft=cometbft,
                   app_overrides={"query_grpc_address": f"tcp://{address}"})
    sequencers = net.init_homes()
    sequencers.append(jailed_sequencer(sequencers[0]["signer"]))
    net.write_genesis(chain.make_genesis_app_state(sequencers, params))
    config = net.nodes[0].home / "config" / "config.toml"
    config.write_text(set_toml_value(config.read_text(), "mempool", "cache_size", "0"))
    net.start()
    net.wait_for_height(2, timeout_s=30)
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=15)
    return net, QueryStub(channel)


@pytest.fixture
def make_net(tmp_path: Path, cometbft_binary: str
             ) -> Iterator[Callable[[dict[str, Any] | None], tuple[Localnet, Any]]]:
    nets: list[Localnet] = []

    def make(params: dict[str, Any] | None = None) -> tuple[Localnet, Any]:
        net, stub = start_net(tmp_path / f"net{len(nets)}", cometbft_binary, params)
        nets.append(net)
        return net, stub

    yield make
    for net in nets:
        net.stop()


def sign_body(node: LocalNode, nonce: int, private_key: bytes | None = None, **msg: Any) -> bytes:
    """A SignedTx carrying one message (unjail=...)."""
    body = tx_pb.TxBody(chain_id=chain_id_of(node), nonce=nonce, **msg)
    return sign_tx(body, private_key if private_key is not None else signer_of(node)[1])


def sign_removed_l2_progress(node: LocalNode, nonce: int) -> bytes:
    """A tx whose TxBody carries field 11, the removed L2Progress message."""
    body = tx_pb.TxBody(chain_id=chain_id_of(node), nonce=nonce).SerializeToString()
    old_msg = b"\x08\x01\x10\x07\x1a\x20" + bytes(range(32))
    raw = tx_pb.TxBody.FromString(body + b"\x5a" + bytes([len(old_msg)]) + old_msg)
    return sign_tx(raw, signer_of(node)[1])


def unjail(sequencer_id: int = JAILED_ID) -> dict[str, Any]:
    return {"unjail": tx_pb.Unjail(sequencer_id=sequencer_id)}


def chain_id_of(node: LocalNode) -> str:
    return str(node.rpc("status")["node_info"]["network"])


def signer_of(node: LocalNode) -> tuple[bytes, bytes]:
    address, private_key = read_signer_key(node.home)
    return bytes.fromhex(address.removeprefix("0x")), private_key


def compute_high_s_twin(raw: bytes) -> bytes:
    """The same signature malleated to (r, n - s, v ^ 1): valid math, but high s."""
    signed = tx_pb.SignedTx.FromString(raw)
    sig = bytes(signed.signature)
    s = int.from_bytes(sig[32:64], "big")
    signed.signature = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((sig[64] ^ 1,))
    return bytes(signed.SerializeToString(deterministic=True))


def check_tx_code(node: LocalNode, raw: bytes) -> int:
    return int(node.broadcast_tx(raw).get("code", 0))


def deliver(node: LocalNode, raw: bytes) -> dict[str, Any]:
    """broadcast_tx_sync, require CheckTx ok, wait for the block; returns /tx's result."""
    result = node.broadcast_tx(raw)
    assert int(result.get("code", 0)) == 0, f"CheckTx rejected: {result}"
    found: dict[str, Any] = wait_until(
        f"tx {result['hash']} to be included in a block",
        lambda: node.rpc("tx", hash="0x" + result["hash"]), 15)
    return found


def abci_value(node: LocalNode, path: str, prove: bool = False, data: bytes = b""
               ) -> tuple[dict[str, Any], bytes]:
    response = node.abci_query(path, data, prove)
    assert int(response.get("code", 0)) == 0, f"abci_query {path}: {response}"
    return response, base64.b64decode(response.get("value") or "")


def app_hash_after(node: LocalNode, height: int) -> bytes:
    """The app hash committed by block `height` is in block height + 1's header."""
    node.wait_for_height(height + 1, timeout_s=15)
    return bytes.fromhex(node.rpc("header", height=height + 1)["header"]["app_hash"])


def proof_of(response: dict[str, Any]) -> bytes:
    (op,) = response["proofOps"]["ops"]
    return base64.b64decode(op["data"])


def compute_rfc3339_ns(text: str) -> int:
    """CometBFT block time (RFC 3339, up to 9 fractional digits) as unix ns."""
    main, _, rest = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(main).replace(tzinfo=UTC).timestamp())
    return seconds * 1_000_000_000 + int((rest or "0").ljust(9, "0")[:9])


def get_sequencer(node: LocalNode, sequencer_id: int = JAILED_ID) -> Any:
    _, value = abci_value(node, f"/sequencer/{sequencer_id}")
    return query.QuerySequencerResponse.FromString(value).sequencer


def get_epoch(node: LocalNode) -> Any:
    _, value = abci_value(node, "/epoch")
    return query.QueryEpochResponse.FromString(value)


def get_account_nonce(node: LocalNode, address: bytes) -> int:
    _, value = abci_value(node, f"/account/0x{address.hex()}")
    return int(query.QueryAccountResponse.FromString(value).account.nonce)


# --- rejections: bad signatures, unknown or removed messages, message rules -------------


def test_bad_signature_unknown_message_and_message_rules_are_rejected(
    make_net: Callable[..., tuple[Localnet, Any]],
) -> None:
    net, stub = make_net()
    node = net.nodes[0]
    address, _ = signer_of(node)
    epoch = get_epoch(node)
    assert (epoch.producer_id, epoch.first_l2_height, epoch.last_l2_height_reported) == \
        (SEQUENCER_ID, 1, 0)
    # Before: the signer's account does not exist, and a proof says so.
    before, _ = abci_value(node, "/key", prove=True, data=keys.account_key(address))
    assert verify_proof(app_hash_after(node, int(before["height"])),
                        keys.account_key(address), None, proof_of(before))

    release = sign_body(node, 0, **unjail())
    assert check_tx_code(node, compute_high_s_twin(release)) == BadSignatureError.code
    forged = sign_body(node, 0, PrivateKey().secret, **unjail())
    assert check_tx_code(node, forged) == UnauthorizedSignerError.code
    # L2Progress went away (issue 13): TxBody field 11 is no message this version knows.
    assert check_tx_code(node, sign_removed_l2_progress(node, 0)) == UnknownMessageError.code
    assert check_tx_code(node, sign_body(node, 0)) == UnknownMessageError.code
    assert check_tx_code(node, sign_body(node, 0, **unjail(SEQUENCER_ID))) == \
        NotJailedError.code
    assert check_tx_code(node, release) == JailPeriodNotOverError.code
    assert get_account_nonce(node, address) == 0
    assert stub.Account(query.QueryAccountRequest(address=address), timeout=5).account.nonce == 0
    # No L2 registered: a plain validator set, no attested head.
    assert int(node.abci_query("/l2/head").get("code", 0)) == QueryNotFoundError.code


# --- a jailed sequencer, Unjail before and after its jail time, replay ---------------------


def test_unjail_is_accepted_only_after_jail_time_and_its_replay_is_rejected(
    make_net: Callable[..., tuple[Localnet, Any]],
) -> None:
    net, stub = make_net()
    node = net.nodes[0]
    address, _ = signer_of(node)
    jailed = get_sequencer(node)
    assert jailed.status == JAILED
    release = sign_body(node, 0, **unjail())
    assert check_tx_code(node, release) == JailPeriodNotOverError.code
    # The jailed sequencer is out of CometBFT's set; the node alone signs.
    _, value = abci_value(node, "/validators")
    kept = query.QueryValidatorsResponse.FromString(value).validators
    assert [v.sequencer_id for v in kept] == [SEQUENCER_ID]

    wait_until(f"block time to pass jailed_until {jailed.jailed_until_ns}",
               lambda: compute_rfc3339_ns(node.rpc("status")["sync_info"]["latest_block_time"])
               >= jailed.jailed_until_ns, JAIL_S + 20)
    included = deliver(node, release)
    height = int(included["height"])
    assert int(included["tx_result"].get("code", 0)) == 0
    assert "unjailed" in [e["type"] for e in included["tx_result"]["events"]]
    assert app_hash_after(node, height) != app_hash_after(node, height - 1)

    # The same signed bytes again: the app's nonce rule rejects them.
    assert check_tx_code(node, release) == BadNonceError.code

    # Read back through abci_query (the nonce with a proof) and gRPC.
    seq = get_sequencer(node)
    assert (seq.status, seq.jailed_until_ns) == (ACTIVE, 0)
    after, value = abci_value(node, f"/account/0x{address.hex()}", prove=True)
    account = query.QueryAccountResponse.FromString(value).account
    assert account.nonce == 1
    assert verify_proof(app_hash_after(node, int(after["height"])), keys.account_key(address),
                        account.SerializeToString(deterministic=True), proof_of(after))
    grpc_seq = stub.Sequencer(query.QuerySequencerRequest(id=JAILED_ID), timeout=5).sequencer
    assert grpc_seq.status == ACTIVE
    wait_until("the unjailed sequencer to join CometBFT's set (H+2)",
               lambda: {v.sequencer_id for v in stub.Validators(
                   query.QueryValidatorsRequest(), timeout=5).validators}
               == {SEQUENCER_ID, JAILED_ID}, 10)
