"""`seqset export` writes a genesis that restarts the chain at the same app hash."""

import base64
import json
import shutil
import subprocess
import sys

from abci_app.devnet.localnet import Localnet, LocalNode


def test_exported_genesis_restarts_at_the_same_app_hash(single_net: Localnet) -> None:
    node = single_net.nodes[0]
    node.start()
    node.wait_for_height(5)
    node.stop()
    out = node.home / "exported.json"
    result = subprocess.run([sys.executable, "-m", "abci_app.node.cli", "export", "--home",
                             str(node.home), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    genesis = json.loads(out.read_text())
    info_height = int(genesis["initial_height"]) - 1
    exported_hash = genesis["app_hash"]

    # A new chain from the export: same keys and config, no blocks, no app state.
    fresh = LocalNode(7, node.home.parent / "restarted", node.ports, node.cometbft)
    shutil.copytree(node.home / "config", fresh.home / "config")
    (fresh.home / "data").mkdir()
    shutil.copy(node.home / "data" / "priv_validator_state.json", fresh.home / "data")
    state = json.loads((fresh.home / "data" / "priv_validator_state.json").read_text())
    state.update({"height": "0", "round": 0, "step": 0})
    (fresh.home / "data" / "priv_validator_state.json").write_text(json.dumps(state))
    (fresh.home / "config" / "genesis.json").write_text(out.read_text())
    try:
        fresh.start()
        first = info_height + 1
        fresh.wait_for_height(first + 1)
        header = fresh.rpc("block", height=first)["block"]["header"]
        # The first block's header carries the app hash InitChain returned.
        assert header["app_hash"] == exported_hash
        recorded = fresh.abci_query(f"/app_hash/{first}")
        assert base64.b64decode(recorded["value"])  # the new chain goes on committing
    finally:
        fresh.stop()
