"""Review finding 7: a sidecar whose L1 lag reaches seed_l1_delay_blocks is warned about."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from abci_app.l1.sidecar import (
    SidecarConfig,
    compute_seed_delay_warning,
    warn_about_seed_delay,
)

CONTRACT = "0x" + "11" * 20


def test_a_lag_at_or_past_the_seed_delay_is_named() -> None:
    assert compute_seed_delay_warning(12, "confirmations", 16) is None
    warning = compute_seed_delay_warning(16, "confirmations", 16)
    assert warning is not None and "confirmations = 16" in warning
    assert "seed_l1_delay_blocks = 16" in warning
    assert compute_seed_delay_warning(0, "finalized", 16) is not None


def test_the_warning_reads_the_homes_genesis(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "genesis.json").write_text(json.dumps(
        {"app_state": {"params": {"seed_l1_delay_blocks": "8"}}}))
    with caplog.at_level(logging.WARNING, logger="seqset.sidecar"):
        warn_about_seed_delay(tmp_path, SidecarConfig(contract_address=CONTRACT))
    assert "seed_l1_delay_blocks = 8" in caplog.text
    caplog.clear()
    warn_about_seed_delay(tmp_path / "missing", SidecarConfig(contract_address=CONTRACT))
    assert not caplog.text  # no genesis: nothing to compare, no crash
