"""CheckTx answers/s over RPC broadcast_tx_sync with 16 keep-alive connections.

Garbage, signed txs with a bad nonce and signed txs from an unknown signer, beside
kvstore's rejections/s of a tx it refuses (no "=": CodeTypeInvalidTxFormat), from the
same client on the same single-validator homes. Txs are signed before the clock starts.
"""

import hashlib
import itertools
from collections.abc import Iterator

from abci_app.chain import txsign
from abci_app.chain.messages import tx as tx_pb
from abci_app.node.home import read_signer_key
from bench.fig_blocks import Chains
from bench.harness import (
    Figure,
    Report,
    Sizes,
    measure_rejections,
    running_nodes,
    running_socket_kvstore,
)

CONNECTIONS = 16
TARGET_RATIO = 0.8
CHAIN_ID = "seqset-bench"


def make_garbage(count: int) -> list[bytes]:
    return [hashlib.sha512(b"garbage%d" % i).digest() for i in range(count)]


def make_unjail(key: bytes, nonce: int) -> bytes:
    body = tx_pb.TxBody(chain_id=CHAIN_ID, nonce=nonce, unjail=tx_pb.Unjail(sequencer_id=1))
    return txsign.sign_tx(body, key)


def make_bad_nonce(key: bytes, count: int) -> list[bytes]:
    """Sequencer 1's own signer with nonces far ahead of its account."""
    return [make_unjail(key, 10**9 + i) for i in range(count)]


def make_unknown_signer(count: int) -> list[bytes]:
    return [make_unjail(hashlib.sha256(b"stranger%d" % i).digest(), 0) for i in range(count)]


def kvstore_rejected() -> Iterator[bytes]:
    return (b"bad%d" % i for i in itertools.count())


def run(report: Report, sizes: Sizes, chains: Chains) -> None:
    _, key = read_signer_key(chains.seqset.home)
    kinds = {"garbage": make_garbage(sizes.checktx_txs),
             "signed, bad nonce": make_bad_nonce(key, sizes.checktx_txs),
             "signed, unknown signer": make_unknown_signer(sizes.checktx_txs)}
    ours: dict[str, tuple[float, float]] = {}
    with running_nodes([chains.seqset], with_app=True):
        for kind, txs in kinds.items():
            ours[kind] = measure_rejections(chains.seqset, txs, sizes.window_s, CONNECTIONS)
    with running_nodes([chains.kvstore], with_app=False):
        theirs, theirs_share = measure_rejections(chains.kvstore, kvstore_rejected(),
                                                  sizes.window_s, CONNECTIONS)
    with running_socket_kvstore([chains.kvstore_socket]):
        socket_rate, _ = measure_rejections(chains.kvstore_socket, kvstore_rejected(),
                                            sizes.window_s, CONNECTIONS)
    for kind, (rate, share) in ours.items():
        report.add(Figure("checktx", f"CheckTx rejections/s, {kind}", rate, "tx/s", theirs,
                          f"kvstore rejections/s ({theirs_share:.0%} rejected), same client",
                          f">= {TARGET_RATIO}x kvstore", rate >= TARGET_RATIO * theirs,
                          notes=f"{share:.0%} of answers were rejections"))
    report.add(Figure("checktx", "CheckTx rejections/s, garbage, vs kvstore over the socket",
                      ours["garbage"][0], "tx/s", socket_rate,
                      "abci-cli kvstore behind the same ABCI socket, same client",
                      notes="same transport as seqset: what the app itself costs"))
