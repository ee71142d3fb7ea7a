"""`seqset node` runs a real single-validator chain, over the socket and the gRPC transport."""

import base64
import signal
import socket
import subprocess
import sys
from pathlib import Path

from abci_app import APP_NAME, __version__
from abci_app.devnet.localnet import Localnet
from abci_app.devnet.ports import free_ports


def test_seqset_node_commits_20_blocks_and_stops_cleanly(single_net: Localnet) -> None:
    node = single_net.nodes[0]
    node.start_pair()
    node.wait_for_height(20, timeout_s=120)

    status = node.rpc("status")
    assert int(status["sync_info"]["latest_block_height"]) >= 20
    info = node.rpc("abci_info")["response"]
    assert info["data"] == APP_NAME
    assert info["version"] == __version__
    assert int(info["last_block_height"]) >= 20
    assert base64.b64decode(info["last_block_app_hash"])

    # Ctrl-C: the supervisor stops cometbft, then the app, and exits 0.
    assert node.app_proc is not None
    node.app_proc.send_signal(signal.SIGINT)
    assert node.app_proc.wait(timeout=30) == 0


def test_grpc_transport_drives_the_chain(tmp_path: Path, cometbft_binary: str) -> None:
    net = Localnet(tmp_path / "net", 1, block_time_ms=200, cometbft=cometbft_binary,
                   app_overrides={"transport": "grpc"})
    net.init()
    try:
        net.start()
        net.wait_for_height(5)
        info = net.nodes[0].rpc("abci_info")["response"]
        assert info["data"] == APP_NAME
    finally:
        net.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abci_app.node.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_init_then_errors_name_the_problem(tmp_path: Path, cometbft_binary: str) -> None:
    home = tmp_path / "home"
    p2p, rpc, abci = free_ports(3)
    ok = run_cli("init", "--home", str(home), "--cometbft", cometbft_binary,
                 "--p2p-port", str(p2p), "--rpc-port", str(rpc), "--abci-port", str(abci))
    assert ok.returncode == 0, ok.stderr
    assert (home / "config" / "seqset.toml").is_file()

    again = run_cli("init", "--home", str(home), "--cometbft", cometbft_binary)
    assert again.returncode != 0 and "already initialised" in again.stderr

    missing = run_cli("start", "--home", str(tmp_path / "nowhere"))
    assert missing.returncode != 0 and "seqset init" in missing.stderr

    for command in ("init", "start", "node", "export"):
        assert run_cli(command, "--help").returncode == 0


def test_start_refuses_a_bad_config_value(tmp_path: Path, cometbft_binary: str) -> None:
    home = tmp_path / "home"
    p2p, rpc, abci = free_ports(3)
    assert run_cli("init", "--home", str(home), "--cometbft", cometbft_binary, "--p2p-port",
                   str(p2p), "--rpc-port", str(rpc), "--abci-port", str(abci)).returncode == 0
    config = home / "config" / "seqset.toml"
    config.write_text(config.read_text().replace('transport = "socket"', 'transport = "carrier"'))
    result = run_cli("start", "--home", str(home))
    assert result.returncode != 0 and "transport must be" in result.stderr


def test_garbage_on_one_abci_connection_leaves_the_chain_running(single_net: Localnet) -> None:
    node = single_net.nodes[0]
    node.start()
    start = node.wait_for_height(3)
    for garbage in (b"\x00", b"\xff" * 12, b"\x05\xff\xff\xff\xff\xff", b"\x80\x80\x80\x80\x08"):
        with socket.create_connection(("127.0.0.1", node.ports.abci), timeout=5) as conn:
            conn.sendall(garbage)
            conn.settimeout(5)
            try:
                assert conn.recv(1) == b""  # the app closed this connection
            except ConnectionResetError:
                pass
    node.wait_for_height(start + 3)
    assert node.app_proc is not None and node.app_proc.poll() is None
