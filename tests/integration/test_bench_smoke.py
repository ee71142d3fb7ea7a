"""./scripts/bench at its tiny size: the table and the JSON have their shape.

Checks shape only, never a wall-clock figure: benchmarks are not timed tests.
"""

import json
import subprocess
import sys
from pathlib import Path

from abci_app.devnet.localnet import PROJECT_ROOT

GROUPS = {"finalize", "commit", "votes", "blocks", "checktx", "replay", "localnet", "l1",
          "settle"}
ROW_KEYS = {"group", "name", "value", "unit", "reference", "reference_name", "ratio",
            "target", "holds"}


def test_bench_tiny_prints_a_table_and_saves_its_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--size", "tiny", "--json", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"bench failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert "figure" in result.stdout and "ratio" in result.stdout
    data = json.loads(out.read_text())
    assert data["sizes"] == "tiny" and data["errors"] == {}
    groups = {row["group"] for row in data["figures"]}
    assert groups == GROUPS, f"groups measured: {sorted(groups)}"
    for row in data["figures"]:
        assert ROW_KEYS <= set(row), f"row lacks keys: {row}"
        assert isinstance(row["value"], int | float)
        assert row["holds"] in (True, False, None)
    assert data["profile"].startswith("profile of the slowest path:")
