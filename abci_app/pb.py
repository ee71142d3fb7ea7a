"""Protobuf classes, generated at install time into abci_app/_gen.

CometBFT's .proto files import each other as top-level packages
(`tendermint.types`, `gogoproto`), so the generated folder goes on sys.path.
"""

import sys
from pathlib import Path

_GEN = Path(__file__).resolve().parent / "_gen"
if not (_GEN / ".stamp").exists():
    raise ImportError(f"protobuf classes missing in {_GEN}: run ./scripts/install")
if str(_GEN) not in sys.path:
    sys.path.insert(0, str(_GEN))

from seqset.v1 import events_pb2 as events  # noqa: E402
from seqset.v1 import l2_pb2 as l2  # noqa: E402
from seqset.v1 import relay_pb2 as relay  # noqa: E402
from seqset.v1 import sidecar_pb2 as sidecar  # noqa: E402
from tendermint.abci import types_pb2 as abci  # noqa: E402
from tendermint.abci import types_pb2_grpc as abci_grpc  # noqa: E402
from tendermint.crypto import keys_pb2 as crypto_keys  # noqa: E402
from tendermint.crypto import proof_pb2 as crypto_proof  # noqa: E402
from tendermint.types import canonical_pb2 as canonical  # noqa: E402
from tendermint.types import params_pb2 as params  # noqa: E402
from tendermint.types import types_pb2 as types  # noqa: E402
from tendermint.types import validator_pb2 as validator  # noqa: E402

__all__ = [
    "abci",
    "abci_grpc",
    "canonical",
    "crypto_keys",
    "crypto_proof",
    "events",
    "params",
    "l2",
    "relay",
    "sidecar",
    "types",
    "validator",
]
