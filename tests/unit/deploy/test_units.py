"""deploy/: every process the compose file and the systemd units run is a real `seqset`
subcommand with real options (parsed by click itself), with restarts and hardening.

Docker is not available in CI and PyYAML is not a dependency: compose.yaml is kept to
block mappings, block lists and JSON flow values, which `parse_compose` reads.
"""

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest

from abci_app.node.cli import main

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
ROOT = DEPLOY.parent
HOME = "/var/lib/seqset"
LONG_RUNNING = ("start", "node", "sidecar", "sequencer", "relayer")


def resolve_seqset(argv: list[str]) -> click.Context:
    """click's own parse of `seqset ARGS...` (subcommands, options, choices), not run."""
    command: click.Command = main
    args = list(argv)
    names = []
    while isinstance(command, click.Group):
        assert args, f"{argv}: names a group, not a command"
        name = args.pop(0)
        assert name in command.commands, f"{argv}: `seqset {' '.join(names + [name])}` " \
                                         "is not a seqset command"
        names.append(name)
        command = command.commands[name]
    return command.make_context(" ".join(names), args)


def _scalar(text: str) -> Any:
    if text[:1] in '["{':
        return json.loads(text)
    return int(text) if text.isdigit() else text


def parse_compose(text: str) -> Any:
    """The YAML subset compose.yaml is written in (see the module docstring)."""
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.strip().startswith("#")]

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                items.append(_scalar(lines[i][1][2:]))
                i += 1
            return items, i
        mapping: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent:
            key, sep, rest = lines[i][1].partition(":")
            assert sep, f"not a mapping line: {lines[i][1]!r}"
            if rest.strip():
                mapping[key], i = _scalar(rest.strip()), i + 1
            else:
                mapping[key], i = block(i + 1, lines[i + 1][0])
        assert i == len(lines) or lines[i][0] < indent, f"bad indent at {lines[i][1]!r}"
        return mapping, i

    doc, _ = block(0, 0)
    return doc


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = parse_compose((DEPLOY / "compose" / "compose.yaml").read_text())
    return doc


def test_the_compose_parser_reads_what_it_claims() -> None:
    doc = parse_compose('a:\n  b: "x"\n  c: [1, "y"]\n  d:\n    - "p"\n    - 3\ne: {}\n')
    assert doc == {"a": {"b": "x", "c": [1, "y"], "d": ["p", 3]}, "e": {}}


def test_compose_runs_one_validator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"node", "sidecar", "sequencer", "relayer", "dashboard"} <= set(services)
    assert services["relayer"]["profiles"] == ["relayer"]
    assert services["dashboard"]["profiles"] == ["dashboard"]
    assert services["node"]["depends_on"]["sidecar"]["condition"] == "service_healthy"
    assert services["sequencer"]["depends_on"]["node"]["condition"] == "service_healthy"
    assert "seqset-home" in compose["volumes"]
    assert services["sidecar"]["build"]["dockerfile"] == "deploy/compose/Dockerfile"


@pytest.mark.parametrize("name", ["node", "sidecar", "sequencer", "relayer", "dashboard"])
def test_each_compose_service_runs_a_real_seqset_command(compose: dict[str, Any],
                                                         name: str) -> None:
    service = compose["services"][name]
    command = service["command"]
    assert command[0] == "seqset"
    ctx = resolve_seqset(command[1:])
    assert str(ctx.params["home"]) == HOME
    if ctx.command.name in LONG_RUNNING:
        assert ctx.params["log_format"] == "json"
    assert f"seqset-home:{HOME}" in service["volumes"]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"][0] == "CMD"
    assert service["image"] == "seqset:latest"


def test_dockerfile_builds_the_pinned_cometbft_and_installs_the_project() -> None:
    dockerfile = (DEPLOY / "compose" / "Dockerfile").read_text()
    install = (ROOT / "scripts" / "install").read_text()
    for name in ("COMETBFT_VERSION", "GOGOPROTO_VERSION"):
        pinned = re.search(rf'^{name}="([^"]+)"', install, re.M)
        assert pinned is not None
        assert f"ARG {name}={pinned.group(1)}\n" in dockerfile
    assert "FROM python:3.11-slim\n" in dockerfile
    assert "pip install --no-cache-dir -e ." in dockerfile
    for copied in ("pyproject.toml", "abci_app", "proto/seqset", "contracts",
                   "scripts/compile-contracts", "package.json"):
        assert (ROOT / copied).exists(), copied


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def test_there_are_units_for_every_process() -> None:
    assert {p.stem for p in UNITS} == {"seqset-sidecar", "seqset-app", "seqset-cometbft",
                                       "seqset-sequencer", "seqset-relayer"}


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_units_restart_on_failure_and_are_hardened(path: Path) -> None:
    service = read_unit(path)["Service"]
    assert service["Restart"] == "on-failure"
    assert int(service["RestartSec"]) > 0
    for key, value in (("NoNewPrivileges", "true"), ("ProtectSystem", "strict"),
                       ("ReadWritePaths", HOME), ("PrivateTmp", "true"),
                       ("ProtectHome", "true"), ("User", "seqset")):
        assert service.get(key) == value, f"{path.name}: {key}"
    assert int(service["LimitNOFILE"]) >= 65536


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_every_exec_line_is_a_real_command(path: Path) -> None:
    service = read_unit(path)["Service"]
    for key in ("ExecStartPre", "ExecStart"):
        if key not in service:
            continue
        argv = shlex.split(service[key].replace("${SEQSET_HOME}", HOME))
        if argv[0] == "/opt/seqset/.bin/cometbft":
            assert argv[1:] == ["start", "--home", HOME]
            continue
        assert argv[0] == "/opt/seqset/.venv/bin/seqset", f"{path.name}: {argv[0]}"
        assert str(resolve_seqset(argv[1:]).params["home"]) == HOME


def test_units_start_in_order() -> None:
    units = {p.stem: read_unit(p)["Unit"] for p in UNITS}
    assert "seqset-sidecar.service" in units["seqset-app"]["After"]
    assert units["seqset-cometbft"]["BindsTo"] == "seqset-app.service"
    assert "seqset-app.service" in units["seqset-cometbft"]["After"]
    assert "seqset-cometbft.service" in units["seqset-sequencer"]["After"]


def test_resolve_seqset_refuses_what_does_not_exist() -> None:
    with pytest.raises(AssertionError, match="is not a seqset command"):
        resolve_seqset(["nodes", "--home", HOME])
    with pytest.raises(click.NoSuchOption):
        resolve_seqset(["node", "--home", HOME, "--no-such-flag"])


def test_every_long_running_command_takes_log_format() -> None:
    for name in LONG_RUNNING:
        ctx = resolve_seqset([name, "--home", HOME, "--log-format", "json"])
        assert ctx.params["log_format"] == "json"
