"""The chain's own protobuf classes (proto/seqset/v1/{state,tx,genesis,query}.proto).

Importing abci_app.pb first puts the generated folder on sys.path.
"""
# ruff: noqa: I001  (abci_app.pb must come first: it puts the generated code on sys.path)

from abci_app import pb  # noqa: F401  (side effect: _gen on sys.path)
from seqset.v1 import genesis_pb2 as genesis  # noqa: E402
from seqset.v1 import query_pb2 as query  # noqa: E402
from seqset.v1 import state_pb2 as state  # noqa: E402
from seqset.v1 import tx_pb2 as tx  # noqa: E402

__all__ = ["genesis", "query", "state", "tx"]
