"""Structured logs: text and JSON lines, each with the module and the height in hand."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from abci_app import chain, pb
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import ProposalHandler
from abci_app.node.config import CONFIG_RELATIVE_PATH, ConfigError, load_config
from abci_app.node.home import sequencer_entry
from abci_app.node.logs import set_height_source, setup_logging
from abci_app.store.state_store import StateStore


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Root logging into a buffer; the previous handlers and level come back afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    yield out
    set_height_source(None)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_ts_level_module_height_msg_and_extras(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream)
    set_height_source(lambda: 42)
    logging.getLogger("seqset.sidecar").info("l1 head %d", 7, extra={"lag": 3})
    logging.getLogger("seqset.sidecar").debug("below the level")
    [line] = lines(stream)
    doc = json.loads(line)
    assert doc["ts"].endswith("Z")
    assert {k: doc[k] for k in ("level", "module", "height", "msg", "lag")} == {
        "level": "info", "module": "seqset.sidecar", "height": 42, "msg": "l1 head 7", "lag": 3}


def test_json_keeps_a_traceback_inside_the_line(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("seqset.app").exception("bug in finalize_block")
    [line] = lines(stream)
    doc = json.loads(line)
    assert doc["level"] == "error" and "RuntimeError: boom" in doc["exc"]


def test_text_lines_carry_level_module_and_height(stream: io.StringIO) -> None:
    setup_logging("debug", "text", stream)
    logging.getLogger("seqset.relayer").warning("cannot bind to L1 yet", extra={"tries": 2})
    [line] = lines(stream)
    _ts, level, module, height, msg = line.split(" ", 4)
    assert (level, module, height) == ("WARNING", "seqset.relayer", "height=0")
    assert msg == "cannot bind to L1 yet tries=2"


def test_a_failing_height_source_never_breaks_a_line(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream)
    set_height_source(lambda: 1 // 0)
    logging.getLogger("seqset.x").info("still logged")
    assert json.loads(lines(stream)[0])["height"] == 0


def test_height_follows_the_block(stream: io.StringIO) -> None:
    """FinalizeBlock's lines name its height, Commit's too; between blocks, the last one."""
    setup_logging("info", "json", stream)
    app = SeqsetApp(StateStore(None), ProposalHandler())
    set_height_source(app.get_log_height)
    key = nacl.signing.SigningKey(bytes(32)).verify_key.encode()
    app_state = chain.make_genesis_app_state(
        [sequencer_entry(1, "0x" + "11" * 20, key, 1000 * 10**18)])
    app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id="log-test", initial_height=1, app_state_bytes=json.dumps(app_state).encode())))
    seen: list[tuple[int, int]] = []
    for height in (1, 2, 3):
        app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=height)))
        finalized = [json.loads(x) for x in lines(stream) if "finalized height=" in x][-1]
        app.handle(pb.abci.Request(commit=pb.abci.RequestCommit()))
        logging.getLogger("seqset.runner").info("between blocks")
        between = json.loads(lines(stream)[-1])
        seen.append((finalized["height"], between["height"]))
        assert finalized["module"] == "seqset.app"
    assert seen == [(1, 1), (2, 2), (3, 3)]
    # In the middle of a block (FinalizeBlock done, no Commit yet): the block's height.
    app.handle(pb.abci.Request(finalize_block=pb.abci.RequestFinalizeBlock(height=4)))
    assert app.get_log_height() == 4
    assert app.store.last_height == 3


def test_log_format_comes_from_seqset_toml(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / CONFIG_RELATIVE_PATH).write_text('[app]\nlog_format = "json"\n')
    assert load_config(tmp_path).log_format == "json"
    (tmp_path / CONFIG_RELATIVE_PATH).write_text('[app]\nlog_format = "xml"\n')
    with pytest.raises(ConfigError, match="log_format must be text or json, got 'xml'"):
        load_config(tmp_path)
