"""`seqset export`: a genesis whose InitChain rebuilds today's state, hence today's app hash."""

import json
from pathlib import Path
from typing import Any

from abci_app import chain
from abci_app.handlers.app import CHAIN_ID_KEY
from abci_app.node.config import AppConfig, resolve_path
from abci_app.node.home import HomeError
from abci_app.store.state_store import StateStore


def export_genesis_file(home: Path, config: AppConfig) -> dict[str, Any]:
    db_dir = resolve_path(home, config.db_dir)
    if not db_dir.exists():
        raise HomeError(f"no app state at {db_dir}: has this node committed a block?")
    genesis: dict[str, Any] = json.loads((home / "config" / "genesis.json").read_text())
    store = StateStore(str(db_dir))
    try:
        if store.last_height == 0:
            raise HomeError(f"the app at {db_dir} has committed no block yet")
        raw_chain_id = store.get(CHAIN_ID_KEY)
        chain_id = raw_chain_id.decode() if raw_chain_id else genesis["chain_id"]
        genesis["app_state"] = chain.export_genesis(store.overlay(), chain_id)
        genesis["initial_height"] = str(store.last_height + 1)
        genesis["chain_id"] = chain_id
        genesis["validators"] = []
        genesis["app_hash"] = store.last_app_hash.hex().upper()
    finally:
        store.close()
    return genesis
