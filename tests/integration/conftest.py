"""Fixtures that start real binaries: cometbft (and anvil, in the L1 tests)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.devnet.localnet import DEFAULT_COMETBFT, Localnet


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cometbft_binary() -> str:
    if not Path(DEFAULT_COMETBFT).is_file():
        pytest.fail(f"{DEFAULT_COMETBFT} missing: ./scripts/install builds it")
    return DEFAULT_COMETBFT


@pytest.fixture
def single_net(tmp_path: Path, cometbft_binary: str) -> Iterator[Localnet]:
    """One validator, initialised but not started; always torn down by PID."""
    net = Localnet(tmp_path / "net", 1, block_time_ms=200, cometbft=cometbft_binary)
    net.init()
    yield net
    net.stop()
