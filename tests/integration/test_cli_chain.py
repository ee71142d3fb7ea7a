"""Issue 16, CLI part 1: `seqset status`, `seqset query ...` and `seqset tx unjail` on a live net.

One 4-validator L2 localnet for the module. Each command is run in-process
(click's CliRunner) against it, in text and JSON, and against a dead node, with
bad arguments, and (for --prove) through a proxy that tampers with the node's
answers. The last test stops a validator until downtime jails it, then sends its
Unjail signed with its signer key file.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner, Result
from google.protobuf.timestamp_pb2 import Timestamp

from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.devnet.ports import free_port
from abci_app.node.cli import main
from abci_app.node.home import read_signer_key

pytestmark = pytest.mark.integration

# Downtime jails after 5 missed votes of a 10-block window, for 4 s, with no slash
# (so the lock stays above min_lock and Unjail can succeed).
PARAMS = {"signed_blocks_window": 10, "min_signed_bps": 5000, "downtime_jail_s": 4,
          "downtime_slash_bps": 0}
JAILED_NODE = 3


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L2Localnet]:
    base = tmp_path_factory.mktemp("cli_chain")
    localnet = L2Localnet(base / "net", 4, block_time_ms=500, cometbft=cometbft_binary,
                          l2=L2Settings(block_interval_ms=500, epoch_length=10), params=PARAMS)
    with localnet.running(height=3):
        yield localnet


def seqset(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ok_json(*args: str) -> Any:
    result = seqset(*args, "--output", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def fails(result: Result, message: str) -> None:
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def dead_node() -> str:
    return f"http://127.0.0.1:{free_port()}"


def sequencer_id_of(net: L2Localnet, index: int) -> int:
    signer, _ = read_signer_key(net.nodes[index].home)
    answer = ok_json("query", "sequencers", "--node", net.nodes[0].rpc_url)
    (found,) = [s for s in answer["sequencers"]
                if base64.b64decode(s["signer"]).hex() == signer.lower().removeprefix("0x")]
    return int(found["id"])


# --- status ----------------------------------------------------------------------------------


def test_status_reports_the_node_its_validator_and_its_sidecar(net: L2Localnet) -> None:
    node = net.nodes[0]
    report = ok_json("status", "--node", node.rpc_url, "--home", str(node.home))
    assert report["height"] >= 3 and len(report["app_hash"]) == 64
    assert report["catching_up"] is False
    assert report["validator"]["power"] > 0
    assert report["validator"]["sequencer_status"] == "active"
    assert report["producer_id"] >= 1 and report["epoch"] >= 0
    assert report["sidecar"] == "ok" and isinstance(report["sidecar_l1_lag"], int)
    assert report["l2_head"] is not None
    text = seqset("status", "--node", node.rpc_url).stdout
    assert "sidecar L1 lag:  unknown (no sidecar address" in text
    assert f"validator:       {report['validator']['address']}" in text


def test_status_of_a_dead_node_is_one_line(net: L2Localnet) -> None:
    url = dead_node()
    fails(seqset("status", "--node", url), f"node {url} did not answer: connection refused")


# --- query -----------------------------------------------------------------------------------


def test_every_query_answers_in_text_and_json(net: L2Localnet) -> None:
    url = net.nodes[0].rpc_url
    signer, _ = read_signer_key(net.nodes[0].home)
    l2_height = net.wait_for_attested_l2_height(1).height
    commands = [["params"], ["sequencer", "1"], ["sequencers"], ["validators"], ["schedule"],
                ["epoch"], ["sequencer-at", str(l2_height)], ["withdrawals"], ["slashes"],
                ["account", signer], ["l1-nonce"]]
    for command in commands:
        text = seqset("query", *command, "--node", url)
        assert text.exit_code == 0 and text.stdout.strip(), (command, text.stderr)
        ok_json("query", *command, "--node", url)
    assert len(ok_json("query", "sequencers", "--node", url)["sequencers"]) == 4
    assert len(ok_json("query", "validators", "--node", url)["validators"]) == 4
    assert "id  status" in seqset("query", "sequencers", "--node", url).stdout
    assert ok_json("query", "params", "--node", url)["params"]["signed_blocks_window"] == "10"
    assert ok_json("query", "withdrawals", "--limit", "5", "--node", url)["next_cursor"] == ""


def test_query_errors_are_one_line(net: L2Localnet) -> None:
    url = net.nodes[0].rpc_url
    fails(seqset("query", "account", "0x12", "--node", url), "not a 20-byte hex address: 0x12")
    fails(seqset("query", "sequencer", "99", "--node", url),
          "the chain refused the query: code 60 QueryNotFoundError: sequencer 99 not found")
    fails(seqset("query", "sequencer", "x", "--node", url), "id: 'x' is not an unsigned integer")
    dead = dead_node()
    fails(seqset("query", "epoch", "--node", dead),
          f"node {dead} did not answer: connection refused")


def test_prove_verifies_live_answers(net: L2Localnet) -> None:
    url = net.nodes[0].rpc_url
    signer, _ = read_signer_key(net.nodes[0].home)
    for command in (["sequencer", "1"], ["params"], ["account", signer], ["l1-nonce"]):
        answer = ok_json("query", *command, "--prove", "--node", url)
        assert answer["proof"]["header"] == answer["proof"]["height"] + 1, command
    untrusted = seqset("query", "params", "--prove", "--node", url)
    assert "warning: no --trust-height/--trust-hash" in untrusted.stderr
    fails(seqset("query", "sequencers", "--prove", "--node", url),
          "proof refused: /sequencers: this answer is built from many records")


def test_prove_from_a_trusted_header(net: L2Localnet) -> None:
    url = net.nodes[0].rpc_url
    trusted = net.nodes[0].rpc("commit", height=2)["signed_header"]["commit"]["block_id"]["hash"]
    answer = ok_json("query", "sequencer", "2", "--prove", "--trust-height", "2",
                     "--trust-hash", trusted, "--node", url)
    assert answer["proof"]["validator_set_from"] == "trusted header 2"
    assert "warning" not in seqset("query", "sequencer", "2", "--prove", "--trust-height", "2",
                                   "--trust-hash", trusted, "--node", url).stderr
    fails(seqset("query", "sequencer", "2", "--prove", "--trust-height", "2",
                 "--trust-hash", "00" * 32, "--node", url),
          "proof refused: header 2 does not hash to the trusted hash")


# --- a proxy that lies ------------------------------------------------------------------------


def flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def tamper_value(path: str, result: dict[str, Any]) -> None:
    response = result.get("response") or {}
    if path.startswith("/abci_query") and "%22%2Fkey%22" not in path and response.get("value"):
        response["value"] = flip_b64(response["value"])


def tamper_proof(path: str, result: dict[str, Any]) -> None:
    for op in ((result.get("response") or {}).get("proofOps") or {}).get("ops") or []:
        op["data"] = flip_b64(op["data"])


def tamper_header(path: str, result: dict[str, Any]) -> None:
    header = (result.get("signed_header") or {}).get("header")
    if header is not None:
        header["app_hash"] = "AB" * 32


@pytest.fixture
def lying_proxy(net: L2Localnet) -> Iterator[Callable[[Callable[..., None]], str]]:
    servers: list[ThreadingHTTPServer] = []
    upstream = net.nodes[0].rpc_url

    def start(tamper: Callable[[str, dict[str, Any]], None]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with urllib.request.urlopen(upstream + self.path, timeout=5) as answer:
                    body = json.loads(answer.read())
                if isinstance(body.get("result"), dict):
                    tamper(self.path, body["result"])
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("tamper", "message"), [
    (tamper_value, "proof refused: the answer does not follow from the proven records"),
    (tamper_proof, "proof refused: bad proof: key 0x"),
    (tamper_header, "proof refused: header"),
])
def test_prove_refuses_a_tampered_answer_proof_or_header(
    lying_proxy: Callable[[Callable[..., None]], str], tamper: Callable[..., None], message: str,
) -> None:
    url = lying_proxy(tamper)
    assert seqset("query", "sequencer", "1", "--node", url).exit_code == 0  # lies unproven
    fails(seqset("query", "sequencer", "1", "--prove", "--node", url), message)


# --- tx --------------------------------------------------------------------------------------


def latest_block_time_ns(net: L2Localnet) -> int:
    stamp = Timestamp()
    stamp.FromJsonString(net.nodes[0].rpc("status")["sync_info"]["latest_block_time"])
    return int(stamp.ToNanoseconds())


def key_file_of(net: L2Localnet, index: int) -> str:
    return str(net.nodes[index].home / "config" / "signer_key.json")


def test_unjail_errors(net: L2Localnet) -> None:
    url = net.nodes[0].rpc_url
    seq_id = sequencer_id_of(net, 0)
    fails(seqset("tx", "unjail", "--sequencer-id", str(seq_id), "--key-file", key_file_of(net, 0),
                 "--node", url),
          f"refused by CheckTx: code 20 NotJailedError: unjail: sequencer {seq_id} is not jailed")
    fails(seqset("tx", "unjail", "--sequencer-id", "99", "--key-file", key_file_of(net, 0),
                 "--node", url), "code 17 UnknownSequencerError")
    fails(seqset("tx", "unjail", "--sequencer-id", "1", "--node", url, env={
        "SEQSET_SIGNER_KEY": ""}), "no signing key: pass --key-file or set SEQSET_SIGNER_KEY")
    dead = dead_node()
    fails(seqset("tx", "unjail", "--sequencer-id", "1", "--key-file", key_file_of(net, 0),
                 "--node", dead), f"node {dead} did not answer: connection refused")
    rejected = seqset("tx", "unjail", "--sequencer-id", str(seq_id), "--key-file",
                      key_file_of(net, 0), "--node", url, "--output", "json")
    assert rejected.exit_code == 1
    assert json.loads(rejected.stdout)["name"] == "NotJailedError"


def test_a_validator_jailed_for_downtime_unjails_with_its_key(net: L2Localnet) -> None:
    """Last in the module: it leaves one validator stopped."""
    url = net.nodes[0].rpc_url
    seq_id = sequencer_id_of(net, JAILED_NODE)
    net.stop_validator(JAILED_NODE)

    def jailed() -> Any:
        seq = ok_json("query", "sequencer", str(seq_id), "--node", url)["sequencer"]
        return seq if seq["status"] == "SEQUENCER_STATUS_JAILED" else None

    seq = wait_until(f"sequencer {seq_id} to be jailed for downtime", jailed, 60)
    wait_until("a block past its jail time",
               lambda: latest_block_time_ns(net) > int(seq["jailed_until_ns"]), 30)
    env = {"SEQSET_SIGNER_KEY": read_signer_key(net.nodes[JAILED_NODE].home)[1].hex()}
    result = seqset("tx", "unjail", "--sequencer-id", str(seq_id), "--node", url, env=env)
    assert result.exit_code == 0, result.output + result.stderr
    assert ": code 0 OK" in result.stdout and "in block" in result.stdout
    after = ok_json("query", "sequencer", str(seq_id), "--prove", "--node", url)
    assert after["sequencer"]["status"] == "SEQUENCER_STATUS_ACTIVE"
