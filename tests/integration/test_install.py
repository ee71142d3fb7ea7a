"""./scripts/install is idempotent: a second run finds everything in place."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_second_install_does_not_rebuild_cometbft() -> None:
    binary = ROOT / ".bin" / "cometbft"
    before = binary.stat().st_mtime_ns
    result = subprocess.run([str(ROOT / "scripts" / "install")], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "building cometbft" not in result.stderr
    assert "generating protobuf" not in result.stderr
    assert "installing npm" not in result.stderr
    assert binary.stat().st_mtime_ns == before
