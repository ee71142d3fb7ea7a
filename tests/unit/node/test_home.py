"""`seqset init` writes CometBFT's evidence window from the app's params; the node finds its
settlement key and the relayer its config in seqset.toml."""

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from abci_app.chain.params import NS_PER_S, Params
from abci_app.node.config import (
    CONFIG_RELATIVE_PATH,
    AppConfig,
    ConfigError,
    load_config,
    load_relayer_config,
    render_config,
)
from abci_app.node.home import NodePorts, compute_evidence_params, init_home, read_signer_key
from abci_app.node.runner import load_settlement_key

COMETBFT = Path(__file__).resolve().parents[3] / ".bin" / "cometbft"
needs_cometbft = pytest.mark.skipif(not COMETBFT.is_file(), reason="run ./scripts/install")


@needs_cometbft
def test_init_writes_cometbft_evidence_window_from_app_params(tmp_path: Path) -> None:
    init_home(tmp_path / "home", "test-chain", "m", str(COMETBFT), NodePorts())
    genesis = json.loads((tmp_path / "home" / "config" / "genesis.json").read_text())
    evidence = genesis["consensus_params"]["evidence"]
    params = genesis["app_state"]["params"]
    assert evidence["max_age_num_blocks"] == str(params["max_evidence_age_blocks"])
    assert evidence["max_age_duration"] == str(int(params["evidence_max_age_s"]) * NS_PER_S)
    assert evidence["max_bytes"] == "1048576"  # CometBFT's own, untouched
    # The key init made is the one the node signs settlement batches with.
    config = load_config(tmp_path / "home")
    assert config.signer_key_file == "config/signer_key.json"
    assert load_settlement_key(tmp_path / "home", config) == read_signer_key(tmp_path / "home")[1]


def test_evidence_params_follow_the_app_genesis() -> None:
    assert compute_evidence_params({"max_evidence_age_blocks": 120, "evidence_max_age_s": 60,
                                    "withdrawal_delay_s": 60}) == {
        "max_age_num_blocks": "120", "max_age_duration": "60000000000"}
    defaults = Params()
    assert compute_evidence_params({})["max_age_duration"] == str(
        defaults.evidence_max_age_s * NS_PER_S)


def test_missing_signer_key_means_no_settlement_signatures(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = AppConfig(signer_key_file="config/absent.json")
    with caplog.at_level(logging.WARNING):
        assert load_settlement_key(tmp_path, config) is None
    assert "will not sign settlement batches" in caplog.text


def write_toml(home: Path, text: str) -> None:
    path = home / CONFIG_RELATIVE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(AppConfig()) + text)


def test_relayer_config_from_seqset_toml(tmp_path: Path) -> None:
    write_toml(tmp_path, '\n[relayer]\nl1_rpc_url = "http://127.0.0.1:9"\n'
               'contract_address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"\n'
               "poll_interval_s = 1\n")
    config = load_relayer_config(tmp_path)
    assert config.poll_interval_s == 1.0 and config.l1_rpc_url == "http://127.0.0.1:9"
    assert config.sender_key_file == "config/relayer_key.json"
    override = load_relayer_config(tmp_path, {"node_rpc_url": "http://127.0.0.1:1"})
    assert override.node_rpc_url == "http://127.0.0.1:1"


@pytest.mark.parametrize(("line", "message"), [
    ('contract_address = "0x12"', "contract_address"),
    ('contract_address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"\nbogus = 1', "bogus"),
    ('contract_address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"\n'
     'l1_rpc_url = "ws://x"', "l1_rpc_url"),
])
def test_invalid_relayer_config_is_refused(tmp_path: Path, line: str, message: str) -> None:
    write_toml(tmp_path, f"\n[relayer]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_relayer_config(tmp_path)


def test_signer_key_is_never_readable_by_others(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from abci_app.node.home import SIGNER_KEY_FILE, create_signer_key

    (tmp_path / "config").mkdir()
    modes = []
    real_open = os.open

    def watch_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        modes.append(mode)
        return real_open(path, flags, mode, **kw)

    old_umask = os.umask(0o022)
    try:
        monkeypatch.setattr(os, "chmod", lambda *a, **k: None)  # no fixing the mode afterwards
        monkeypatch.setattr(os, "open", watch_open)
        create_signer_key(tmp_path)
    finally:
        os.umask(old_umask)
    assert (tmp_path / SIGNER_KEY_FILE).stat().st_mode & 0o077 == 0
    assert modes and all(m & 0o077 == 0 for m in modes)
