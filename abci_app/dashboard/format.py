"""Pure formatting of chain values for people: wei, times, addresses, statuses.

Every function returns plain text; the caller escapes it (render.py) before it
reaches HTML.
"""

from datetime import UTC, datetime

from abci_app.chain.messages import state
from abci_app.chain.params import NS_PER_S

WEI_DECIMALS = 18
WEI_PER_TOKEN = 10**WEI_DECIMALS
TOKEN_FRACTION_DIGITS = 4
# Below this, four token decimals would read as 0: show the wei themselves.
SMALLEST_TOKEN_AMOUNT_WEI = WEI_PER_TOKEN // 10**TOKEN_FRACTION_DIGITS
NONE_TEXT = "—"


def format_wei(amount_wei: int | str) -> str:
    """Tokens of 18 decimals with thousands separators, truncated to 4 decimals
    ("1,000.25"); small amounts in wei ("12 wei"); anything unparsable as it is."""
    try:
        wei = int(amount_wei)
    except (TypeError, ValueError):
        return str(amount_wei)
    if wei < 0:
        return "-" + format_wei(-wei)
    if 0 < wei < SMALLEST_TOKEN_AMOUNT_WEI:
        return f"{wei:,} wei"
    whole, rest = divmod(wei, WEI_PER_TOKEN)
    fraction = str(rest // SMALLEST_TOKEN_AMOUNT_WEI).rjust(TOKEN_FRACTION_DIGITS, "0").rstrip("0")
    return f"{whole:,}" + (f".{fraction}" if fraction else "")


def format_time_ns(time_ns: int) -> str:
    """A block time (unix ns) as UTC to the second; 0 means never."""
    if time_ns <= 0:
        return NONE_TEXT
    try:
        moment = datetime.fromtimestamp(time_ns // NS_PER_S, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{time_ns} ns"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_address(address: bytes) -> str:
    return "0x" + address.hex() if address else NONE_TEXT


def format_short_hex(data: bytes, keep: int = 4) -> str:
    """0x1234…abcd: enough to tell values apart in a table (the full value goes in a title)."""
    text = data.hex()
    if not text:
        return NONE_TEXT
    return "0x" + (text if len(text) <= 4 * keep else f"{text[:2 * keep]}…{text[-2 * keep:]}")


def format_status(status: int) -> str:
    """SEQUENCER_STATUS_JAILED -> "jailed"."""
    try:
        name = state.SequencerStatus.Name(status)  # type: ignore[arg-type]
    except ValueError:
        return f"unknown ({status})"
    return name.removeprefix("SEQUENCER_STATUS_").lower()


def format_bps(bps: int) -> str:
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}%".replace(".00%", "%")


def format_count(value: int) -> str:
    return f"{value:,}"
