"""The app refuses to start on a protobuf runtime other than the pinned one."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from abci_app.node.deps import (
    PROTOBUF_BACKEND,
    PROTOBUF_VERSION,
    DependencyError,
    check_protobuf_runtime,
    get_protobuf_runtime,
)

ROOT = Path(__file__).resolve().parents[3]


def get_pyproject_pin(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [pin] = [d for d in deps if re.split(r"[=<>~!\[ ]", d, maxsplit=1)[0].lower() == name]
    assert "==" in pin, f"{pin!r} is not an exact pin"
    return pin.split("==", 1)[1].strip()


def test_expected_version_is_the_pyproject_pin() -> None:
    assert get_pyproject_pin("protobuf") == PROTOBUF_VERSION


def test_consensus_dependencies_are_pinned_exactly() -> None:
    for name in ("protobuf", "coincurve", "pynacl"):
        assert get_pyproject_pin(name)


def test_installed_runtime_is_the_pinned_one() -> None:
    assert get_protobuf_runtime() == (PROTOBUF_VERSION, PROTOBUF_BACKEND)
    check_protobuf_runtime(*get_protobuf_runtime())


def test_invalid_protobuf_version_names_both_versions() -> None:
    with pytest.raises(DependencyError) as caught:
        check_protobuf_runtime("6.33.0", PROTOBUF_BACKEND)
    assert PROTOBUF_VERSION in str(caught.value) and "6.33.0" in str(caught.value)


def test_invalid_protobuf_backend_is_refused() -> None:
    with pytest.raises(DependencyError) as caught:
        check_protobuf_runtime(PROTOBUF_VERSION, "python")
    assert PROTOBUF_BACKEND in str(caught.value) and "python" in str(caught.value)


# Fakes the installed runtime, then runs the real CLI entry point.
FAKE_AND_RUN = """
import sys
import google.protobuf
from google.protobuf.internal import api_implementation
google.protobuf.__version__ = sys.argv[1]
api_implementation.Type = lambda: sys.argv[2]
from abci_app.node.cli import main
main(sys.argv[3:], prog_name="seqset")
"""


@pytest.mark.parametrize("command", ["start", "node"])
@pytest.mark.parametrize(("version", "backend"), [("6.33.0", PROTOBUF_BACKEND),
                                                  (PROTOBUF_VERSION, "python")])
def test_invalid_protobuf_runtime_stops_the_cli_with_one_line(
        tmp_path: Path, command: str, version: str, backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAKE_AND_RUN, version, backend, command, "--home", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert PROTOBUF_VERSION in line and version in line and backend in line
    assert "Traceback" not in result.stderr
