"""The CLI's pure parts: argument checks, the route table, output, keys and tx results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.query import QUERY_ROUTES
from abci_app.chain.txsign import compute_signer_address
from abci_app.client.output import compute_json, render_text
from abci_app.client.queries import (
    CLI_QUERIES,
    ROUTES,
    BadArgumentError,
    compute_address_arg,
    get_path,
    is_paged,
)
from abci_app.client.rpc import NodeRpc
from abci_app.client.txs import SIGNER_KEY_ENV, SignerKeyError, TxResult, read_signer
from abci_app.errors import NotJailedError

KEY = bytes(range(1, 33))


def test_every_cli_query_is_a_route_and_paths_come_from_the_table() -> None:
    paths = {r.path for r in QUERY_ROUTES}
    assert set(CLI_QUERIES.values()) <= paths
    assert get_path("sequencer", "7") == "/sequencer/7"
    assert get_path("l1/last_nonce") == "/l1/last_nonce"
    with pytest.raises(KeyError):
        get_path("no/such/route")
    assert is_paged(ROUTES["withdrawals"]) and not is_paged(ROUTES["sequencers"])


@pytest.mark.parametrize("text", ["0x12", "zz" * 20, "0x" + "ab" * 21, "0x" + "g" * 40, ""])
def test_invalid_address_is_named(text: str) -> None:
    with pytest.raises(BadArgumentError, match=f"not a 20-byte hex address: {text}"):
        compute_address_arg(text)


def test_address_is_normalised() -> None:
    assert compute_address_arg("AB" * 20) == "0x" + "ab" * 20


def test_text_output_is_a_table_for_a_list_and_lines_otherwise() -> None:
    answer = query_pb.QuerySequencersResponse(sequencers=[
        state.Sequencer(id=1, status=state.SEQUENCER_STATUS_JAILED, locked_wei="5",
                        signer=b"\x01" * 20)])
    lines = render_text(answer).splitlines()
    assert lines[0].split()[:3] == ["id", "status", "locked_wei"]
    assert lines[1].split()[:4] == ["1", "jailed", "5", "0x" + "01" * 20]
    epoch = render_text(query_pb.QueryEpochResponse(epoch=3, producer_id=2))
    assert "epoch: 3" in epoch and "producer_id: 2" in epoch


def test_json_output_keeps_proto_field_names_and_defaults() -> None:
    doc = compute_json(query_pb.QueryEpochResponse(epoch=3))
    assert doc["epoch"] == "3" and doc["producer_id"] == "0"
    assert "last_l2_height_reported" in doc


def test_key_comes_from_a_file_or_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    as_json = tmp_path / "key.json"
    as_json.write_text(json.dumps({"address": "0x", "private_key": KEY.hex()}))
    bare = tmp_path / "key.hex"
    bare.write_text("0x" + KEY.hex() + "\n")
    assert read_signer(as_json) == KEY == read_signer(bare)
    monkeypatch.setenv(SIGNER_KEY_ENV, KEY.hex())
    assert read_signer(None) == KEY
    assert len(compute_signer_address(read_signer(None))) == 20


def test_invalid_missing_or_short_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNER_KEY_ENV, raising=False)
    with pytest.raises(SignerKeyError, match="no signing key"):
        read_signer(None)
    monkeypatch.setenv(SIGNER_KEY_ENV, "abcd")
    with pytest.raises(SignerKeyError, match="2 bytes, expected 32"):
        read_signer(None)
    with pytest.raises(SignerKeyError, match="cannot read"):
        read_signer(tmp_path / "missing.json")


def test_tx_result_names_its_code() -> None:
    assert TxResult("AB", "block", 0, "").name == "OK"
    assert TxResult("AB", "check", NotJailedError.code, "").name == "NotJailedError"
    assert TxResult("AB", "check", 20, "", codespace="sdk").name == "sdk code"


def test_dead_node_is_one_line() -> None:
    from abci_app.client.rpc import ChainReadError
    from abci_app.devnet.ports import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainReadError, match=f"^node {url} did not answer: connection refused$"):
        NodeRpc(url).status()
