"""Bounds on what the relay attests per height.

Extensions have no size limit in CometBFT beyond 1 MiB (cosmos-sdk #18568), and
the injected transaction must fit in the block next to user txs (connect PR
#264), so each bound is explicit and checked once at startup.
"""

from dataclasses import dataclass

from abci_app.errors import ParamsError

# CometBFT's types.MaxVoteExtensionSize: a larger extension breaks the vote.
COMETBFT_MAX_VOTE_EXTENSION_BYTES = 1024 * 1024
# CometBFT's types.MaxBlockSizeBytes: no tx can be larger than a block.
COMETBFT_MAX_BLOCK_BYTES = 104_857_600
# Room one vote takes in the injected tx besides its extension: address,
# power, flag, 64-byte signature and protobuf framing (generous upper bound).
VOTE_OVERHEAD_BYTES = 128


@dataclass(frozen=True, slots=True)
class RelayParams:
    max_events_per_extension: int = 64
    max_extension_bytes: int = 16 * 1024
    # Must stay well below the block's max_tx_bytes so user txs still fit.
    max_attested_tx_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        validate_max_events_per_extension(self.max_events_per_extension)
        validate_max_extension_bytes(self.max_extension_bytes)
        validate_max_attested_tx_bytes(self.max_attested_tx_bytes, self.max_extension_bytes)


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"relay.{name}: expected an integer, got {value!r}")
    return value


def validate_max_events_per_extension(value: object) -> None:
    count = _require_int("max_events_per_extension", value)
    if not 1 <= count <= 10_000:
        raise ParamsError(f"relay.max_events_per_extension: {count} is outside [1, 10000]")


def validate_max_extension_bytes(value: object) -> None:
    size = _require_int("max_extension_bytes", value)
    if not 256 <= size <= COMETBFT_MAX_VOTE_EXTENSION_BYTES:
        raise ParamsError(
            f"relay.max_extension_bytes: {size} is outside "
            f"[256, {COMETBFT_MAX_VOTE_EXTENSION_BYTES}]")


def validate_max_attested_tx_bytes(value: object, max_extension_bytes: int) -> None:
    size = _require_int("max_attested_tx_bytes", value)
    # At least one full extension and its vote must fit, or nothing is ever attested.
    low = max_extension_bytes + VOTE_OVERHEAD_BYTES
    high = COMETBFT_MAX_BLOCK_BYTES // 2
    if not low <= size <= high:
        raise ParamsError(f"relay.max_attested_tx_bytes: {size} is outside [{low}, {high}]")
