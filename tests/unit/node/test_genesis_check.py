"""`seqset genesis validate` and the same check before `seqset node`/`seqset start`: one
line naming the field, never a traceback, a HALT and CometBFT's handshake EOF."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from click.testing import CliRunner

from abci_app import chain, pb
from abci_app.errors import GenesisError
from abci_app.handlers.app import SeqsetApp
from abci_app.handlers.proposals import ProposalHandler
from abci_app.node.cli import main
from abci_app.node.config import CONFIG_RELATIVE_PATH, AppConfig, render_config
from abci_app.node.genesis_check import (
    compute_time_ns,
    validate_genesis_doc,
    validate_genesis_file,
    validate_genesis_if_present,
)
from abci_app.node.home import compute_evidence_params, sequencer_entry
from abci_app.store.state_store import StateStore

BAD_LINE = "app_state.params.max_validators: 0 is outside [1, 10000]"


def make_genesis(validators: int = 2) -> dict[str, Any]:
    """A genesis as `seqset init` writes it (node/home.py write_genesis)."""
    keys = [nacl.signing.SigningKey(bytes([i + 1]) * 32).verify_key.encode()
            for i in range(validators)]
    app_state = chain.make_genesis_app_state(
        [sequencer_entry(i + 1, "0x" + f"{i + 1:02x}" * 20, key, 1000 * 10**18)
         for i, key in enumerate(keys)])
    evidence = {"max_bytes": "1048576", **compute_evidence_params(app_state["params"])}
    return {"genesis_time": "2024-05-01T12:00:00.123456789Z", "chain_id": "check-chain",
            "initial_height": "1",
            "consensus_params": {"abci": {"vote_extensions_enable_height": "1"},
                                 "evidence": evidence},
            "validators": [], "app_hash": "", "app_state": app_state}


def write_home(home: Path, genesis: dict[str, Any]) -> Path:
    (home / "config").mkdir(parents=True)
    (home / CONFIG_RELATIVE_PATH).write_text(render_config(AppConfig()))
    (home / "config" / "genesis.json").write_text(json.dumps(genesis))
    return home


def with_bad_param() -> dict[str, Any]:
    genesis = make_genesis()
    genesis["app_state"]["params"]["max_validators"] = 0
    return genesis


def test_a_good_genesis_is_summarised() -> None:
    summary = validate_genesis_doc(make_genesis(3))
    assert (summary.chain_id, summary.sequencers, summary.validators) == ("check-chain", 3, 3)
    assert summary.total_power == 3000
    assert summary.describe().startswith("genesis OK: chain check-chain, 3 sequencers, ")


def test_the_app_hash_is_the_one_init_chain_answers() -> None:
    genesis = make_genesis()
    app = SeqsetApp(StateStore(None), ProposalHandler())
    answer = app.handle(pb.abci.Request(init_chain=pb.abci.RequestInitChain(
        chain_id="check-chain", initial_height=1,
        time={"seconds": compute_time_ns(genesis["genesis_time"]) // 10**9,
              "nanos": 123456789},
        app_state_bytes=json.dumps(genesis["app_state"]).encode())))
    assert validate_genesis_doc(genesis).app_hash == answer.init_chain.app_hash.hex().upper()


def test_invalid_app_hash_that_disagrees_with_app_state() -> None:
    genesis = make_genesis()
    genesis["app_hash"] = "AB" * 32
    with pytest.raises(GenesisError, match="^app_hash: genesis says ABAB"):
        validate_genesis_doc(genesis)


@pytest.mark.parametrize(("change", "message"), [
    (lambda g: g.update(chain_id=""), "chain_id: expected a non-empty string, got ''"),
    (lambda g: g["consensus_params"]["abci"].update(vote_extensions_enable_height="0"),
     "consensus_params.abci.vote_extensions_enable_height: must be >= 1, got 0"),
    (lambda g: g["consensus_params"]["evidence"].update(max_age_num_blocks="5"),
     "consensus_params.evidence.max_age_num_blocks: must be 100000 (from the app's params), "
     "got '5'"),
    (lambda g: g["app_state"]["params"].update(max_validators=0), BAD_LINE),
    (lambda g: g["app_state"]["sequencers"][0].update(locked_wei="1"),
     "app_state.sequencers[0].locked_wei: 1 < params.min_lock_wei 1000000000000000000"),
    (lambda g: g.update(genesis_time="yesterday"),
     "genesis_time: expected an RFC 3339 time, got 'yesterday'"),
])
def test_invalid_genesis_names_the_field(change: Any, message: str) -> None:
    genesis = make_genesis()
    change(genesis)
    with pytest.raises(GenesisError) as raised:
        validate_genesis_doc(genesis)
    assert str(raised.value) == message


def test_time_keeps_nanoseconds() -> None:
    assert compute_time_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert compute_time_ns("1970-01-01T01:00:00.000000001+01:00") == 1


def test_validate_command_prints_one_line(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", make_genesis())
    ok = CliRunner().invoke(main, ["genesis", "validate", "--home", str(home)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("genesis OK: chain check-chain, 2 sequencers, 2 validators")
    as_json = CliRunner().invoke(main, ["genesis", "validate", "--home", str(home),
                                       "--output", "json"])
    assert json.loads(as_json.output)["validators"] == 2


def test_invalid_param_fails_validate_with_one_line(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", with_bad_param())
    result = CliRunner().invoke(main, ["genesis", "validate", "--home", str(home)])
    assert result.exit_code != 0
    assert result.output == f"Error: {BAD_LINE}\n"


@pytest.mark.parametrize("command", ["node", "start"])
def test_node_refuses_to_start_on_an_invalid_param(tmp_path: Path, command: str) -> None:
    """A real process: no traceback, no HALT, no cometbft started (its binary is bogus)."""
    home = write_home(tmp_path / "home", with_bad_param())
    config = render_config(AppConfig(cometbft_binary=str(tmp_path / "no-such-cometbft")))
    (home / CONFIG_RELATIVE_PATH).write_text(config)
    result = subprocess.run([sys.executable, "-m", "abci_app.node.cli", command, "--home",
                             str(home)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr == f"Error: {BAD_LINE}\n"
    assert result.stdout == ""
    assert validate_genesis_file(write_home(tmp_path / "good", make_genesis())).validators == 2


def test_start_without_a_genesis_file_is_not_refused(tmp_path: Path) -> None:
    """`seqset start` may serve a cometbft whose home is elsewhere; `seqset node` may not."""
    (tmp_path / "config").mkdir()
    validate_genesis_if_present(tmp_path)
    with pytest.raises(GenesisError, match="^no genesis at .*: run `seqset init"):
        validate_genesis_file(tmp_path)
