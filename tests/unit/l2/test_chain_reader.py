"""How the agent reads the chain: abci_query answers decoded, rejections told apart, config."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from abci_app.chain.messages import query as query_pb
from abci_app.client.rpc import ChainReadError, QueryRejectedError, parse_query_body
from abci_app.l2.chain_reader import compute_ws_url
from abci_app.node.config import CONFIG_RELATIVE_PATH, ConfigError, load_sequencer_config


def wrap(value: bytes, code: int = 0) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": -1, "result": {"response": {
        "code": code, "log": "epoch 9 is not scheduled yet" if code else "",
        "value": base64.b64encode(value).decode()}}}


def test_an_answer_is_decoded_with_the_chains_query_table() -> None:
    answer = query_pb.QuerySequencerAtResponse(l2_height=7, epoch=1, sequencer_id=3)
    decoded = parse_query_body("/sequencer_at/7", wrap(answer.SerializeToString()))
    assert decoded == answer


def test_a_rejected_query_is_told_apart_from_a_broken_node() -> None:
    with pytest.raises(QueryRejectedError, match="not scheduled"):
        parse_query_body("/sequencer_at/900", wrap(b"", code=34))
    with pytest.raises(ChainReadError):
        parse_query_body("/sequencer_at/9", {"error": {"code": -32603}})
    with pytest.raises(ChainReadError):
        parse_query_body("/sequencer_at/9", {"result": {"response": {"value": "%%%"}}})
    with pytest.raises(ChainReadError):
        parse_query_body("/sequencer_at/9", wrap(b"\xff\xff\xff"))


def test_the_websocket_url_comes_from_the_rpc_url() -> None:
    assert compute_ws_url("http://127.0.0.1:26657") == "ws://127.0.0.1:26657/websocket"
    assert compute_ws_url("https://node.example/") == "wss://node.example/websocket"


def write_config(home: Path, text: str) -> None:
    (home / CONFIG_RELATIVE_PATH).parent.mkdir(parents=True, exist_ok=True)
    (home / CONFIG_RELATIVE_PATH).write_text(text)


def test_sequencer_config_has_defaults_and_flags_override(tmp_path: Path) -> None:
    write_config(tmp_path, '[sequencer]\nl2_rpc_url = "http://127.0.0.1:9000"\n')
    config = load_sequencer_config(tmp_path, {"node_rpc_url": "http://127.0.0.1:1"})
    assert (config.l2_rpc_url, config.node_rpc_url, config.poll_interval_ms) == (
        "http://127.0.0.1:9000", "http://127.0.0.1:1", 100)


@pytest.mark.parametrize("text", ['[sequencer]\nbogus = 1\n', '[sequencer]\nl2_rpc_url = "x"\n',
                                  "[sequencer]\npoll_interval_ms = 0\n",
                                  '[sequencer]\npoll_interval_ms = "1"\n'])
def test_invalid_sequencer_config_is_refused(tmp_path: Path, text: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError):
        load_sequencer_config(tmp_path)
