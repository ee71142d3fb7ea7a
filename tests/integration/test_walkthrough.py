"""The README's "Joining a running network" walkthrough, run command for command.

The commands are read from the README itself (the sh block after the
`walkthrough` marker), so the page cannot drift from what works: each one runs
in bash with the variables the README names set to a live localnet's values.
Lines ending in `&` are the long-running services; every other command must
exit 0. At the end the new validator is in the set, signs, and agrees on the
app hash.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.devnet.localnet import wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.node.join import SIDECAR_SOCKET

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- walkthrough: tests/integration/test_walkthrough.py runs this block -->"
DEFAULT_PORTS = (26656, 26657, 26658)  # the joiner runs on `seqset init`'s defaults


def read_walkthrough(readme: str) -> list[str]:
    """The commands of the sh block after MARKER, continuation lines joined, comments dropped."""
    after = readme.split(MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.S)
    assert block is not None, "no ```sh block after the walkthrough marker"
    joined = block.group(1).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_read_walkthrough_joins_lines_and_drops_comments() -> None:
    text = f"x\n{MARKER}\n```sh\n# a comment\nseqset a \\\n    --b c  # why\nseqset d &\n```\n"
    assert read_walkthrough(text) == ["seqset a      --b c", "seqset d &"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L2Localnet]:
    for port in DEFAULT_PORTS:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is busy"
    with L2Localnet(tmp_path_factory.mktemp("walk"), 4, block_time_ms=500,
                    l2=L2Settings(), cometbft=cometbft_binary).running(height=2) as running:
        yield running


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_readme_walkthrough_joins_a_validator(net: L2Localnet, tmp_path: Path) -> None:
    home = tmp_path / "validator"
    key_file = tmp_path / "owner.key"
    owner = net.owner(len(net.nodes))  # a funded, whitelisted spare owner
    key_file.write_text(owner.private_key)
    key_file.chmod(0o600)
    dep = net.deployment
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}:{ROOT / '.bin'}:{os.environ['PATH']}",
           "HOME_DIR": str(home), "PEER_RPC": net.nodes[0].rpc_url, "L1_RPC": net.anvil.url,
           "LOCKING": dep.locking_address, "L1_START_BLOCK": str(dep.deploy_block),
           "L2_RPC": net.l2.url, "OWNER_KEY_FILE": str(key_file)}
    commands = read_walkthrough((ROOT / "README.md").read_text())
    assert any(c.startswith("seqset l1 lock") for c in commands)
    services: list[subprocess.Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            if command.endswith("&"):
                log = (tmp_path / f"service{i}.log").open("wb")
                services.append(subprocess.Popen(
                    ["bash", "-c", f"exec {command[:-1]}"], env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
                continue
            done = subprocess.run(["bash", "-c", command], env=env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, (
                f"README walkthrough command failed ({done.returncode}): {command}\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            for service in services:
                assert service.poll() is None, f"a walkthrough service exited: {service.args}"
        assert (home / SIDECAR_SOCKET).exists()
        # The joiner is a validator of the chain and of CometBFT, and agrees on the state.
        wait_until("the chain to list 5 validators",
                   lambda: len(net.query("/validators").validators) == 5, 60)
        joined_rpc = "http://127.0.0.1:26657"
        height = net.nodes[0].height()
        wait_until("the joiner to pass the others' height",
                   lambda: _height(joined_rpc) > height + 1, 60)
        assert (_app_hash(joined_rpc, height + 1)
                == _app_hash(net.nodes[0].rpc_url, height + 1))
    finally:
        for service in reversed(services):
            stop_group(service)


def _rpc(url: str, method: str) -> dict[str, object]:
    from abci_app.client.rpc import NodeRpc

    return NodeRpc(url).call(method)


def _height(url: str) -> int:
    return int(_rpc(url, "status")["sync_info"]["latest_block_height"])  # type: ignore[index]


def _app_hash(url: str, height: int) -> str:
    from abci_app.client.rpc import NodeRpc

    header = NodeRpc(url).call("block", height=str(height))["block"]["header"]
    return str(header["app_hash"])
