"""Revert data decoded to the custom error's name and arguments: the one decoder.

`seqset relayer` and `seqset l1 ...` both turn web3's ContractLogicError into
`NotOwner(sequencerId=3, caller=0x...)` with this module, so an operator reads
the contract's own words whichever tool hit the revert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from web3 import Web3
from web3.exceptions import ContractLogicError

from abci_app.l1.contract import compute_error_selector

SELECTOR_HEX_CHARS = 10  # "0x" + 4 bytes
# Solidity's built-in reverts, which no ABI lists: require(..., "text") and panics.
BUILTIN_ERRORS: tuple[dict[str, Any], ...] = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


@dataclass(frozen=True)
class DecodedRevert:
    """A revert as the contract named it; `name` is None for an unknown selector."""

    name: str | None
    args: tuple[tuple[str, Any], ...]
    data: str  # the raw 0x-hex revert data

    def __str__(self) -> str:
        if self.name is None:
            return f"an unknown error (data {self.data[:SELECTOR_HEX_CHARS + 64]})"
        return f"{self.name}({', '.join(f'{k}={_format_arg(v)}' for k, v in self.args)})"


def get_revert_data(exc: ContractLogicError) -> str:
    """The 0x-hex revert data web3 attached to `exc` ("" when it has none)."""
    data = exc.data if isinstance(exc.data, str) else str(exc.message or "")
    return data if data.startswith("0x") else ""


def decode_revert(abi: Sequence[Mapping[str, Any]], data: str) -> DecodedRevert:
    """The custom error of `abi` (or Error/Panic) behind revert `data`, with its arguments.

    Arguments that do not decode leave the name known and the arguments empty.
    """
    selector = data[:SELECTOR_HEX_CHARS].lower()
    for entry in (*abi, *BUILTIN_ERRORS):
        if entry.get("type") != "error":
            continue
        types = [i["type"] for i in entry["inputs"]]
        if compute_error_selector(f"{entry['name']}({','.join(types)})") != selector:
            continue
        try:
            values = abi_decode(types, bytes.fromhex(data[SELECTOR_HEX_CHARS:]))
        except Exception:  # noqa: BLE001 - eth_abi raises many types; all mean "malformed"
            return DecodedRevert(str(entry["name"]), (), data)
        names = [str(i["name"]) or f"arg{n}" for n, i in enumerate(entry["inputs"])]
        return DecodedRevert(str(entry["name"]), tuple(zip(names, values, strict=True)), data)
    return DecodedRevert(None, (), data)


def _format_arg(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and Web3.is_address(value):
        return str(Web3.to_checksum_address(value))
    return str(value)
