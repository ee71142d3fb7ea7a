"""The dashboard's formatting of wei, times, addresses and statuses, and its CLI parsing."""

import click
import pytest

from abci_app.chain.state import ACTIVE, JAILED, TOMBSTONED
from abci_app.dashboard.cli import parse_listen
from abci_app.dashboard.format import (
    NONE_TEXT,
    format_address,
    format_bps,
    format_short_hex,
    format_status,
    format_time_ns,
    format_wei,
)
from abci_app.node.config import ConfigError
from abci_app.node.home import compute_node_url


@pytest.mark.parametrize(("wei", "text"), [
    ("0", "0"),
    (0, "0"),
    ("1000000000000000000000", "1,000"),
    ("1500000000000000000", "1.5"),
    ("989010000000000000000", "989.01"),
    ("1234567890000000000000000", "1,234,567.89"),
    ("100000000000000", "0.0001"),  # the smallest amount shown in tokens
    ("99999999999999", "99,999,999,999,999 wei"),
    ("12", "12 wei"),
    ("1999999999999999999", "1.9999"),  # truncated, never rounded up
    ("-1500000000000000000", "-1.5"),
    ("not a number", "not a number"),
])
def test_wei_reads_as_tokens_of_18_decimals(wei: str | int, text: str) -> None:
    assert format_wei(wei) == text


def test_time_is_utc_to_the_second_and_zero_is_never() -> None:
    assert format_time_ns(1_700_000_000_123_456_789) == "2023-11-14 22:13:20 UTC"
    assert format_time_ns(0) == NONE_TEXT
    assert format_time_ns(-5) == NONE_TEXT


def test_addresses_are_full_or_shortened_hex() -> None:
    address = bytes(range(20))
    assert format_address(address) == "0x" + address.hex()
    assert format_address(b"") == NONE_TEXT
    assert format_short_hex(address) == "0x00010203…10111213"
    assert format_short_hex(b"\xab\xcd") == "0xabcd"


def test_status_names_are_short_and_unknown_ones_say_so() -> None:
    assert format_status(ACTIVE) == "active"
    assert format_status(JAILED) == "jailed"
    assert format_status(TOMBSTONED) == "tombstoned"
    assert format_status(99) == "unknown (99)"


def test_basis_points_read_as_percent() -> None:
    assert format_bps(100) == "1%"
    assert format_bps(10) == "0.10%"
    assert format_bps(10_000) == "100%"


@pytest.mark.parametrize(("laddr", "url"), [
    ("tcp://127.0.0.1:26657", "http://127.0.0.1:26657"),
    ("tcp://0.0.0.0:36657", "http://127.0.0.1:36657"),
    ("127.0.0.1:1234", "http://127.0.0.1:1234"),
])
def test_node_url_comes_from_cometbft_rpc_laddr(laddr: str, url: str) -> None:
    assert compute_node_url(laddr) == url


def test_invalid_rpc_laddr_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="laddr"):
        compute_node_url("unix:///tmp/rpc.sock")


def test_listen_address_is_host_and_port() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8080", "127.0.0.1:", "127.0.0.1:70000", ":80"):
        with pytest.raises(click.BadParameter):
            parse_listen(bad)
