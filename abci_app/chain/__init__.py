"""The sequencer-set state machine: deterministic transitions over a KVStore.

The ABCI layer decodes requests and calls these; nothing here does IO.

Modules: block (finalize_block and the end-of-block order), l1events (attested
L1 events), txs (tx auth and messages), txsign (signing digest), validators
(CometBFT set and H+2 history), schedule (rotation, rewards), slashing
(downtime, double sign), withdrawals (delay queue), settlement (batches for
the Locking contract), genesis (init/export),
query (the table of query paths and the abci_query router), state/keys (typed storage), params.

Encodings: state records are protobuf (proto/seqset/v1/state.proto) written
with deterministic serialization; amounts are integer wei as canonical decimal
strings; times are unix nanoseconds of block time; integers in keys are 8-byte
big-endian. Error codes: abci_app.errors.ERROR_CODES.
"""

from abci_app.chain.block import finalize_block
from abci_app.chain.genesis import export_genesis, init_chain, make_genesis_app_state
from abci_app.chain.l2 import get_attested_l1_height, get_l2_head
from abci_app.chain.params import Params
from abci_app.chain.query import QUERY_ROUTES, decode_query_value, query
from abci_app.chain.seeds import get_seed_request
from abci_app.chain.settlement import get_pending_settlement
from abci_app.chain.state import get_last_applied_l1_nonce, get_params
from abci_app.chain.txs import check_tx
from abci_app.chain.types import (
    BlockInput,
    BlockOutcome,
    Event,
    Misbehavior,
    QueryResult,
    TxOutcome,
    ValidatorUpdate,
    VoteInfo,
)
from abci_app.chain.validators import get_validator_set
from abci_app.l1events_schema import ATTESTED_TX_PREFIX as RESERVED_PREFIX

__all__ = [
    "QUERY_ROUTES",
    "RESERVED_PREFIX",
    "BlockInput",
    "BlockOutcome",
    "Event",
    "Misbehavior",
    "Params",
    "QueryResult",
    "TxOutcome",
    "ValidatorUpdate",
    "VoteInfo",
    "decode_query_value",
    "check_tx",
    "export_genesis",
    "finalize_block",
    "get_attested_l1_height",
    "get_l2_head",
    "get_last_applied_l1_nonce",
    "get_params",
    "get_pending_settlement",
    "get_seed_request",
    "get_validator_set",
    "init_chain",
    "make_genesis_app_state",
    "query",
]
