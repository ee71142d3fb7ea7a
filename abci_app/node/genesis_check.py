"""`seqset genesis validate`: a home's config/genesis.json checked offline, before start.

The app state goes through the chain's own InitChain (abci_app/chain/genesis.py, which
validates the params with chain/params.py) on an in-memory store, so the checks and their
messages are the ones the node would hit at its handshake. The CometBFT side is checked
against what `seqset init` writes (node/home.py): a chain id, vote extensions enabled,
and the evidence window taken from the app's params.
Every failure is a GenesisError whose message names the field.
"""

import datetime
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from abci_app import chain
from abci_app.chain.params import (
    NS_PER_S,
    compute_params_from_json,
    is_l2_registered,
    is_settlement_enabled,
)
from abci_app.errors import GenesisError
from abci_app.handlers.app import CHAIN_ID_KEY
from abci_app.node.home import compute_evidence_params
from abci_app.store.state_store import StateStore

GENESIS_RELATIVE_PATH = Path("config") / "genesis.json"
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class GenesisSummary:
    chain_id: str
    initial_height: int
    sequencers: int
    validators: int
    total_power: int
    vote_extensions_enable_height: int
    l2_chain_id: int
    settlement: bool
    app_hash: str  # what InitChain answers, upper-case hex like genesis.json's app_hash

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        l2 = f"L2 chain {self.l2_chain_id}" if self.l2_chain_id else "no L2"
        return (f"genesis OK: chain {self.chain_id}, {self.sequencers} sequencers, "
                f"{self.validators} validators (power {self.total_power}), initial height "
                f"{self.initial_height}, vote extensions from height "
                f"{self.vote_extensions_enable_height}, {l2}, settlement "
                f"{'on' if self.settlement else 'off'}, app hash {self.app_hash}")


def compute_time_ns(text: object, where: str = "genesis_time") -> int:
    """An RFC 3339 time as CometBFT writes it (up to nanoseconds) in unix nanoseconds."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise GenesisError(f"{where}: expected an RFC 3339 time, got {text!r}")
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.datetime.fromisoformat(whole + zone.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GenesisError(f"{where}: {exc}") from None
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(moment.timestamp()) * NS_PER_S + nanos


def _positive_int(doc: dict[str, Any], path: tuple[str, ...], low: int = 1) -> int:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    name = ".".join(path)
    # CometBFT writes int64s as decimal strings; a plain integer is accepted too.
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.lstrip("-").isdigit():
        raise GenesisError(f"{name}: expected an integer, got {value!r}")
    number = int(text)
    if number < low:
        raise GenesisError(f"{name}: must be >= {low}, got {number}")
    return number


def validate_cometbft_fields(doc: dict[str, Any]) -> tuple[str, int, int]:
    """(chain id, initial height, vote-extension height) after checking the CometBFT side."""
    chain_id = doc.get("chain_id")
    if not isinstance(chain_id, str) or not chain_id:
        raise GenesisError(f"chain_id: expected a non-empty string, got {chain_id!r}")
    initial_height = _positive_int(doc, ("initial_height",))
    # 0 disables vote extensions, and with them the whole L1 relay.
    ve_height = _positive_int(doc, ("consensus_params", "abci", "vote_extensions_enable_height"))
    evidence = doc.get("consensus_params", {}).get("evidence")
    if not isinstance(evidence, dict):
        raise GenesisError("consensus_params.evidence: missing")
    # Evidence must stay valid exactly as long as the app can still slash for it.
    app_state = doc.get("app_state")
    params = app_state.get("params") if isinstance(app_state, dict) else None
    for key, expected in compute_evidence_params(params).items():
        if str(evidence.get(key)) != expected:
            raise GenesisError(f"consensus_params.evidence.{key}: must be {expected} (from "
                               f"the app's params), got {evidence.get(key)!r}")
    return chain_id, initial_height, ve_height


def validate_genesis_doc(doc: object) -> GenesisSummary:
    """Raises GenesisError naming the first bad field; otherwise what InitChain would do."""
    if not isinstance(doc, dict):
        raise GenesisError("genesis: expected a JSON object")
    app_state = doc.get("app_state")
    if not isinstance(app_state, dict):
        raise GenesisError("app_state: expected a JSON object")
    # The app's own checks first: a bad parameter is named before any CometBFT field
    # that is derived from it.
    compute_params_from_json(app_state.get("params"))
    chain_id, initial_height, ve_height = validate_cometbft_fields(doc)
    time_ns = compute_time_ns(doc.get("genesis_time"))
    store = StateStore(None)
    overlay = store.overlay()
    # As the app's InitChain handler does, so the app hash is the one it will answer.
    overlay.set(CHAIN_ID_KEY, chain_id.encode())
    updates = chain.init_chain(overlay, json.dumps(app_state).encode(), chain_id, time_ns,
                               initial_height)
    app_hash = store.compute_app_hash(overlay).hex().upper()
    stated = doc.get("app_hash") or ""
    if stated and str(stated).upper() != app_hash:
        raise GenesisError(f"app_hash: genesis says {stated}, its app_state gives {app_hash}")
    params = chain.get_params(overlay)
    return GenesisSummary(
        chain_id=chain_id, initial_height=initial_height,
        sequencers=len(app_state.get("sequencers", [])), validators=len(updates),
        total_power=sum(u.power for u in updates), vote_extensions_enable_height=ve_height,
        l2_chain_id=params.l2_chain_id if is_l2_registered(params) else 0,
        settlement=is_settlement_enabled(params), app_hash=app_hash)


def validate_genesis_file(home: Path) -> GenesisSummary:
    """The home's config/genesis.json, checked offline."""
    path = home / GENESIS_RELATIVE_PATH
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise GenesisError(f"no genesis at {path}: run `seqset init --home {home}`") from None
    except (OSError, ValueError) as exc:
        raise GenesisError(f"{path}: not readable JSON ({exc})") from None
    return validate_genesis_doc(doc)


def validate_genesis_if_present(home: Path) -> None:
    """For `seqset start`: the app alone may run beside a cometbft whose home (and
    genesis) is elsewhere, so a missing file is not an error there."""
    if (home / GENESIS_RELATIVE_PATH).exists():
        validate_genesis_file(home)
