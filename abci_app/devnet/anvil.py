"""A local anvil L1 node for tests and the localnet.

`Anvil` starts `node_modules/.bin/anvil` on a free port, waits until it answers
`eth_chainId`, and stops it by PID on exit. Its dev accounts come from anvil's
deterministic mnemonic; their keys are read from anvil's own `--config-out`
file, so nothing here re-derives HD keys.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from web3 import Web3
from web3.types import RPCEndpoint

from abci_app.devnet.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = ROOT / "node_modules" / ".bin" / "anvil"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_CHAIN_ID = 31337
_START_ATTEMPTS = 3  # a free port can be taken between probing it and anvil binding it
_POLL_INTERVAL_S = 0.05


class AnvilError(RuntimeError):
    """anvil failed to start, answer or obey an RPC call."""


@dataclass(frozen=True)
class DevAccount:
    """A funded anvil account (10,000 ETH at start)."""

    address: str  # checksummed
    private_key: str  # 0x-prefixed hex


class Anvil:
    """A running anvil; use as `with Anvil() as node: node.w3...`."""

    def __init__(
        self,
        *,
        block_time_s: int | None = None,
        accounts: int = 10,
        chain_id: int = ANVIL_CHAIN_ID,
        startup_timeout_s: float = 20.0,
        binary: Path = ANVIL_BIN,
        state_file: Path | None = None,
        port: int = 0,
        mining: bool = True,
    ) -> None:
        """`mining=False` (--no-mining): blocks only on evm_mine/anvil_mine (the localnet L2)."""
        self.block_time_s = block_time_s
        self.mining = mining
        self.account_count = accounts
        self.chain_id = chain_id
        self.startup_timeout_s = startup_timeout_s
        self.binary = binary
        self.port = port
        self.state_file = state_file  # anvil loads it on start and dumps to it on exit
        self.accounts: list[DevAccount] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._w3: Web3 | None = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Anvil:
        """Starts anvil and returns once it answers, or raises AnvilError."""
        if self._proc is not None:
            raise AnvilError("anvil already started")
        if not self.binary.exists():
            raise AnvilError(f"anvil not found at {self.binary}: run ./scripts/install")
        self._tmp = tempfile.TemporaryDirectory(prefix="seqset-anvil-")
        last_error = ""
        for _ in range(_START_ATTEMPTS):
            try:
                self._start_once()
                return self
            except AnvilError as err:
                last_error = str(err)
                self._terminate()
        self.stop()
        raise AnvilError(f"anvil did not start after {_START_ATTEMPTS} attempts: {last_error}")

    def stop(self) -> None:
        """Stops anvil (by the PID we started) and removes its temp files."""
        self._terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            raise AnvilError("anvil is not running")
        return self._w3

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------ RPC helpers

    def rpc(self, method: str, params: list[Any]) -> Any:
        """Calls a raw JSON-RPC method and returns its result, or raises AnvilError."""
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in response:
            raise AnvilError(f"{method} failed: {response['error']}")
        return response.get("result")

    def snapshot(self) -> str:
        """Snapshots the chain state; `revert(id)` returns to it (once)."""
        return str(self.rpc("evm_snapshot", []))

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", [snapshot_id]):
            raise AnvilError(f"evm_revert to {snapshot_id} was refused")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def increase_time(self, seconds: int) -> None:
        """Moves the next block's timestamp forward and mines it."""
        self.rpc("evm_increaseTime", [seconds])
        self.mine(1)

    def reorg(self, depth: int) -> None:
        """Replaces the last `depth` blocks with empty ones (new hashes, same height)."""
        self.rpc("anvil_reorg", [depth, []])

    def rollback(self, depth: int) -> None:
        """Removes the last `depth` blocks; the chain gets shorter."""
        self.rpc("anvil_rollback", [depth])

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", [enabled])

    # ------------------------------------------------------------ internals

    def _start_once(self) -> None:
        assert self._tmp is not None
        tmp = Path(self._tmp.name)
        config_out = tmp / "anvil-config.json"
        config_out.unlink(missing_ok=True)
        self.port = self.port or free_port()
        args = [
            str(self.binary),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.account_count),
            "--mnemonic", DEV_MNEMONIC,
            "--config-out", str(config_out),
            "--silent",
        ]  # fmt: skip
        if self.block_time_s is not None:
            args += ["--block-time", str(self.block_time_s)]
        if not self.mining:
            args += ["--no-mining"]
        if self.state_file is not None:
            args += ["--state", str(self.state_file)]
        log = (tmp / "anvil.log").open("wb")
        # Its own session: a terminal's Ctrl-C must not reach it before we stop it.
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 10}))
        self._wait_until_ready(tmp / "anvil.log")
        self.accounts = _read_dev_accounts(config_out)

    def _wait_until_ready(self, log_path: Path) -> None:
        assert self._proc is not None and self._w3 is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = log_path.read_text(errors="replace").strip()[-500:]
                raise AnvilError(f"anvil exited with code {self._proc.returncode}: {output}")
            try:
                if self._w3.eth.chain_id == self.chain_id:
                    return
            except Exception:  # noqa: BLE001 - not listening yet; keep polling
                pass
            time.sleep(_POLL_INTERVAL_S)
        raise AnvilError(
            f"anvil on {self.url} did not answer eth_chainId within {self.startup_timeout_s}s"
        )

    def _terminate(self) -> None:
        proc, self._proc, self._w3 = self._proc, None, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _read_dev_accounts(config_out: Path) -> list[DevAccount]:
    """Reads the dev accounts anvil wrote to its --config-out file."""
    try:
        config = cast(dict[str, Any], json.loads(config_out.read_text()))
        addresses = config["available_accounts"]
        keys = config["private_keys"]
    except (OSError, ValueError, KeyError) as err:
        raise AnvilError(f"cannot read anvil's accounts from {config_out}: {err}") from err
    return [
        DevAccount(address=Web3.to_checksum_address(addr), private_key=key)
        for addr, key in zip(addresses, keys, strict=True)
    ]
