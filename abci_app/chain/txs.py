"""User transactions: authentication (check_tx and FinalizeBlock) and their effects.

Checks, in order, each with its own code (abci_app.errors):
  reserved relay prefix (10), size > max_tx_bytes (11), undecodable SignedTx or
  TxBody (12), chain_id (14), unknown message (15), signature (13), account
  nonce (16), unknown sequencer (17), signer is not the sequencer's (18), then
  the message's own rules. FinalizeBlock re-runs all of them: CheckTx is not
  consensus. Once authentication passes in a block, the nonce is consumed even
  if the message then fails, so the same bytes can never be replayed.
CheckTx runs the cheap ones first (precheck_unjail: the sequencer and its
signer's nonce before any curve work), so its code for a tx breaking several
rules may differ from FinalizeBlock's; it still rejects exactly the same txs.
"""

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from abci_app.chain.messages import state
from abci_app.chain.messages import tx as tx_pb
from abci_app.chain.params import Params
from abci_app.chain.slashing import reset_signing_info
from abci_app.chain.state import (
    ACTIVE,
    JAILED,
    TOMBSTONED,
    get_account_nonce,
    get_chain_state,
    get_params,
    get_sequencer,
    get_stake,
    put_account_nonce,
    put_sequencer,
)
from abci_app.chain.txsign import check_signature_form, recover_sender
from abci_app.chain.types import Event, TxOutcome
from abci_app.errors import (
    AppError,
    BadNonceError,
    InsufficientLockError,
    JailPeriodNotOverError,
    NotJailedError,
    ReservedPrefixError,
    TombstonedError,
    TxDecodeError,
    TxTooLargeError,
    UnauthorizedSignerError,
    UnknownMessageError,
    UnknownSequencerError,
    WrongChainIdError,
)
from abci_app.l1events_schema import ATTESTED_TX_PREFIX as RESERVED_PREFIX
from abci_app.store.kv import KVStore

# TxBody field 11 (L2Progress) is reserved: the chain learns the L2 head only from
# attested headers (chain/l2.py), so such a tx is an UnknownMessageError.
MESSAGE_KINDS = ("unjail",)


@dataclass(frozen=True)
class AuthenticatedTx:
    sender: bytes
    nonce: int
    kind: str
    msg: tx_pb.Unjail
    seq: state.Sequencer


def decode_tx(raw: bytes, chain_id: str, params: Params) -> tuple[tx_pb.SignedTx, tx_pb.TxBody]:
    """Stateless checks: prefix, size, decoding, chain id, message kind."""
    if raw.startswith(RESERVED_PREFIX):
        raise ReservedPrefixError("tx: starts with the relay's reserved prefix")
    if len(raw) > params.max_tx_bytes:
        raise TxTooLargeError(f"tx: {len(raw)} bytes > max_tx_bytes {params.max_tx_bytes}")
    signed, body = tx_pb.SignedTx(), tx_pb.TxBody()
    try:
        signed.ParseFromString(raw)
        body.ParseFromString(signed.body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise TxDecodeError(f"tx: not a SignedTx/TxBody ({exc})") from None
    if body.chain_id != chain_id:
        raise WrongChainIdError(f"tx.chain_id: {body.chain_id!r} != {chain_id!r}")
    if body.WhichOneof("msg") not in MESSAGE_KINDS:
        raise UnknownMessageError("tx.msg: no known message")
    return signed, body


def authenticate_tx(kv: KVStore, raw: bytes, chain_id: str, params: Params) -> AuthenticatedTx:
    """All checks that do not depend on the message's own rules."""
    signed, body = decode_tx(raw, chain_id, params)
    return authenticate_decoded(kv, signed, body, chain_id)


def authenticate_decoded(
    kv: KVStore, signed: tx_pb.SignedTx, body: tx_pb.TxBody, chain_id: str
) -> AuthenticatedTx:
    """authenticate_tx after decode_tx: signature, nonce, sequencer, signer."""
    sender = recover_sender(chain_id, bytes(signed.body), bytes(signed.signature))
    expected = get_account_nonce(kv, sender)
    if body.nonce != expected:
        raise BadNonceError(f"tx.nonce: {body.nonce} != account nonce {expected}")
    kind = str(body.WhichOneof("msg"))
    msg = body.unjail  # decode_tx checked the kind
    seq = get_sequencer(kv, msg.sequencer_id)
    if seq is None:
        raise UnknownSequencerError(f"{kind}.sequencer_id: no sequencer {msg.sequencer_id}")
    if bytes(seq.signer) != sender:
        raise UnauthorizedSignerError(
            f"{kind}: signed by 0x{sender.hex()}, sequencer {seq.id}'s signer is "
            f"0x{bytes(seq.signer).hex()}")
    return AuthenticatedTx(sender, int(body.nonce), kind, msg, seq)


# --- message rules: validation first, then the effect -----------------------------


def validate_unjail(seq: state.Sequencer, now_ns: int, params: Params) -> None:
    # Verify the sequencer is jailed, not tombstoned, its time served and its lock sufficient
    if seq.status == TOMBSTONED:
        raise TombstonedError(f"unjail: sequencer {seq.id} is tombstoned")
    if seq.status != JAILED:
        raise NotJailedError(f"unjail: sequencer {seq.id} is not jailed")
    if now_ns < seq.jailed_until_ns:
        raise JailPeriodNotOverError(
            f"unjail: jailed until {seq.jailed_until_ns} ns, block time {now_ns} ns")
    if get_stake(seq) < params.min_lock_wei:
        raise InsufficientLockError(
            f"unjail: lock {get_stake(seq)} < min_lock {params.min_lock_wei}")


def process_unjail(kv: KVStore, seq: state.Sequencer) -> list[Event]:
    seq.status = ACTIVE
    seq.jailed_until_ns = 0
    put_sequencer(kv, seq)
    reset_signing_info(kv, seq.id)
    return [Event("unjailed", [("sequencer_id", str(seq.id))])]


def validate_message(auth: AuthenticatedTx, now_ns: int, params: Params) -> None:
    validate_unjail(auth.seq, now_ns, params)


def apply_message(kv: KVStore, auth: AuthenticatedTx) -> list[Event]:
    return process_unjail(kv, auth.seq)


# --- entry points --------------------------------------------------------------------------


def precheck_unjail(kv: KVStore, signed: tx_pb.SignedTx, body: tx_pb.TxBody) -> None:
    """CheckTx's cheap checks before any curve work (spam costs no recovery).

    Only the sequencer's signer may send its unjail, so a nonce other than that
    signer's next one fails whoever signed: with a bad nonce or a wrong signer.
    The codes may differ from FinalizeBlock's order; CheckTx is not consensus.
    """
    check_signature_form(bytes(signed.signature))
    seq = get_sequencer(kv, body.unjail.sequencer_id)
    if seq is None:
        raise UnknownSequencerError(f"unjail.sequencer_id: no sequencer {body.unjail.sequencer_id}")
    expected = get_account_nonce(kv, bytes(seq.signer))
    if body.nonce != expected:
        raise BadNonceError(f"tx.nonce: {body.nonce} != sequencer {seq.id}'s signer's nonce "
                            f"{expected}")


def check_tx(kv: KVStore, raw: bytes, chain_id: str, params: Params | None = None) -> TxOutcome:
    """CheckTx against the mempool overlay `kv`; on success only the nonce is bumped.

    Cheapest first: decode_tx, then precheck_unjail, then one cached recovery.
    `params` may be passed in when the caller already read them from `kv`.
    """
    try:
        params = get_params(kv) if params is None else params
        signed, body = decode_tx(raw, chain_id, params)
        precheck_unjail(kv, signed, body)
        auth = authenticate_decoded(kv, signed, body, chain_id)
        validate_message(auth, int(get_chain_state(kv).last_block_time_ns), params)
    except AppError as exc:
        return TxOutcome(exc.code, exc.message)
    put_account_nonce(kv, auth.sender, auth.nonce + 1)
    return TxOutcome(0, "")


def process_tx(kv: KVStore, raw: bytes, chain_id: str, now_ns: int, params: Params) -> TxOutcome:
    """One tx of a block: a code on any rule broken, never an exception."""
    try:
        auth = authenticate_tx(kv, raw, chain_id, params)
    except AppError as exc:
        return TxOutcome(exc.code, exc.message)
    put_account_nonce(kv, auth.sender, auth.nonce + 1)
    try:
        validate_message(auth, now_ns, params)
    except AppError as exc:
        return TxOutcome(exc.code, exc.message)
    return TxOutcome(0, "", events=apply_message(kv, auth))
