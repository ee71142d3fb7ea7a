"""`seqset l1 ...` failures that need no network: each is one line and exit code 1."""

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from abci_app.node.cli import main

DEAD = "http://127.0.0.1:1"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = "0x" + "11" * 32


def invoke(*args: str, key: str | None = KEY) -> Result:
    env = {"SEQSET_L1_KEY": key} if key else {"SEQSET_L1_KEY": ""}
    return CliRunner().invoke(main, ["l1", *args], env=env)


def assert_one_line_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: {message}"] or (len(lines) == 1 and message in lines[0]), lines


def test_every_subcommand_is_registered() -> None:
    result = CliRunner().invoke(main, ["l1", "--help"])
    for name in ("lock", "increase", "withdraw", "unlock", "claim", "claim-rewards",
                 "change-signer"):
        assert name in result.output


def test_bad_signer_address_is_named() -> None:
    result = invoke("change-signer", "--sequencer-id", "1", "--signer", "0x1234",
                    "--l1-rpc", DEAD, "--contract", CONTRACT)
    assert_one_line_error(result, "--signer: not a 20-byte hex address: '0x1234'")


def test_bad_contract_address_is_named() -> None:
    result = invoke("claim", "--sequencer-id", "1", "--l1-rpc", DEAD, "--contract", "nope",
                    "--no-wait")
    assert_one_line_error(result, "--contract: not a 20-byte hex address: 'nope'")


def test_bad_amount_is_named() -> None:
    result = invoke("withdraw", "--sequencer-id", "1", "--amount", "1.5",
                    "--l1-rpc", DEAD, "--contract", CONTRACT)
    assert_one_line_error(result, "not an amount: '1.5'")


def test_missing_key_names_both_sources() -> None:
    result = invoke("unlock", "--sequencer-id", "1", "--l1-rpc", DEAD, "--contract", CONTRACT,
                    key=None)
    assert_one_line_error(result, "no owner key: give --key-file PATH or set SEQSET_L1_KEY")


def test_lock_without_consensus_key_or_home_says_so() -> None:
    result = invoke("lock", "--signer", CONTRACT, "--amount", "1eth", "--l1-rpc", DEAD,
                    "--contract", CONTRACT)
    assert_one_line_error(result, "no consensus key: give --consensus-key HEX or --home DIR")


def test_missing_l1_rpc_is_named() -> None:
    result = invoke("claim", "--sequencer-id", "1", "--contract", CONTRACT, "--no-wait")
    assert_one_line_error(result, "no L1 RPC: give --l1-rpc URL")


def test_dead_l1_is_one_line() -> None:
    result = invoke("claim", "--sequencer-id", "1", "--l1-rpc", DEAD, "--contract", CONTRACT,
                    "--no-wait")
    assert_one_line_error(result, f"cannot reach the L1 RPC at {DEAD}")


def test_dead_node_is_found_before_any_l1_call() -> None:
    result = invoke("claim", "--sequencer-id", "1", "--l1-rpc", DEAD, "--contract", CONTRACT,
                    "--node", DEAD)
    assert_one_line_error(result, f"node {DEAD} did not answer")


@pytest.mark.parametrize("with_key", [True, False])
def test_home_gives_the_l1_target_and_the_consensus_key(tmp_path: Path, with_key: bool) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "seqset.toml").write_text(
        f'[sidecar]\nl1_rpc_url = "{DEAD}"\ncontract_address = "{CONTRACT}"\n')
    if with_key:
        pub_key = base64.b64encode(b"\x01" * 32).decode()
        (tmp_path / "config" / "priv_validator_key.json").write_text(json.dumps(
            {"pub_key": {"type": "tendermint/PubKeyEd25519", "value": pub_key}}))
    result = invoke("lock", "--signer", CONTRACT, "--amount", "1eth", "--home", str(tmp_path),
                    "--no-wait")
    if with_key:
        assert_one_line_error(result, f"cannot reach the L1 RPC at {DEAD}")
    else:
        assert_one_line_error(result, "cannot read the consensus key")
