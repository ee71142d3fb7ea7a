"""Bounds on what the relay attests per height.

Extensions have no size limit in CometBFT beyond 1 MiB (cosmos-sdk #18568), and
the injected transaction must fit in the block next to user txs (connect PR
#264), so each bound is explicit. The limits are genesis parameters: their
defaults, bounds and the one validation live in abci_app/chain/params.py.
"""

from dataclasses import dataclass

from abci_app.chain.params import (
    COMETBFT_MAX_BLOCK_BYTES,
    Params,
    validate_param,
    validate_relay_params,
)


@dataclass(frozen=True, slots=True)
class RelayParams:
    max_events_per_extension: int = Params.max_events_per_extension
    max_extension_bytes: int = Params.max_extension_bytes
    max_attested_tx_bytes: int = Params.max_attested_tx_bytes
    max_l2_headers_per_extension: int = Params.max_l2_headers_per_extension

    def __post_init__(self) -> None:
        validate_relay_params(
            self.max_events_per_extension, self.max_extension_bytes, self.max_attested_tx_bytes)
        validate_param("max_l2_headers_per_extension", self.max_l2_headers_per_extension)


__all__ = [
    "COMETBFT_MAX_BLOCK_BYTES",
    "RelayParams",
]
