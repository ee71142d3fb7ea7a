"""Every error seqset expects in normal operation, with its stable code.

Codes are part of consensus once assigned: a tx result's code goes into the
block results hash. Never renumber; add new errors with new codes.
`ERROR_CODES` is the single table (code -> (name, description)) that the
README reproduces; it is built from the classes below, so the two cannot drift.
Every code the app answers with (tx results, CheckTx, queries) is one of these,
in the codespace CODESPACE; tests/unit/test_error_table.py checks it.
"""

from typing import ClassVar

CODESPACE = "seqset"


class AppError(Exception):
    """Base of all expected errors. `code` is stable; the message names the field."""

    code: ClassVar[int] = 1

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.describe())
        self.message = message or self.describe()

    @classmethod
    def describe(cls) -> str:
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]


# --- genesis and configuration (2-9) -------------------------------------------------


class GenesisError(AppError):
    """Invalid genesis app_state (the message names the field)."""

    code = 2


class ParamsError(GenesisError):
    """A parameter is missing, malformed or out of range."""

    code = 3


# --- transaction envelope and authentication (10-19) ---------------------------------


class ReservedPrefixError(AppError):
    """The tx starts with the relay's reserved prefix and cannot come from a user."""

    code = 10


class TxTooLargeError(AppError):
    """The tx is larger than params.max_tx_bytes."""

    code = 11


class TxDecodeError(AppError):
    """The tx bytes are not a valid SignedTx/TxBody protobuf."""

    code = 12


class BadSignatureError(AppError):
    """The signature is malformed, high-s, or does not recover a public key."""

    code = 13


class WrongChainIdError(AppError):
    """The tx body's chain_id is not this chain's."""

    code = 14


class UnknownMessageError(AppError):
    """The tx body carries no message this version knows."""

    code = 15


class BadNonceError(AppError):
    """The tx nonce is not the sender account's next nonce."""

    code = 16


class UnknownSequencerError(AppError):
    """No sequencer has this id."""

    code = 17


class UnauthorizedSignerError(AppError):
    """The tx was not signed by the sequencer's registered signer."""

    code = 18


class InvalidFieldError(AppError):
    """A message field is malformed (wrong length, zero, out of range)."""

    code = 19


# --- sequencer status (20-29) ----------------------------------------------------------


class NotJailedError(AppError):
    """Unjail was sent for a sequencer that is not jailed."""

    code = 20


class JailPeriodNotOverError(AppError):
    """Unjail was sent before jailed_until."""

    code = 21


class TombstonedError(AppError):
    """The sequencer is tombstoned and can never be active again."""

    code = 22


class InsufficientLockError(AppError):
    """The lock would be (or is) below params.min_lock_wei."""

    code = 23


class NotActiveError(AppError):
    """The sequencer's status does not allow this operation."""

    code = 24


# --- 30-39: reserved ---------------------------------------------------------------
# 30-32 were the L2Progress tx's errors (StaleL2ProgressError, L2ProgressBeyondEpochError,
# NotScheduledProducerError). The tx went away in issue 13 (the chain learns the L2
# head only from attested headers); old blocks' results carry these codes, so they are
# never reused.
RESERVED_CODES: dict[int, str] = {
    30: "StaleL2ProgressError", 31: "L2ProgressBeyondEpochError",
    32: "NotScheduledProducerError"}


# --- attested L1 events (40-59) -------------------------------------------------------


class L1NonceGapError(AppError):
    """The L1 event nonce skips ahead of last_applied + 1; it was not applied."""

    code = 40


class L1NonceDuplicateError(AppError):
    """The L1 event nonce was already applied; it was not applied again."""

    code = 41


class SequencerExistsError(AppError):
    """A Locked event names a sequencer id that already exists."""

    code = 42


class ConsensusKeyInUseError(AppError):
    """A Locked event's consensus key already belongs to another sequencer."""

    code = 43


class InvalidAmountError(AppError):
    """An amount is not a canonical decimal wei string, or is zero where it must not be."""

    code = 44


class EmptyL1EventError(AppError):
    """The L1 event carries no kind this version knows."""

    code = 45


class ReleaseExceedsReleasableError(AppError):
    """A Released event pays more than the sequencer's queued withdrawals."""

    code = 46


class ClaimExceedsRewardsError(AppError):
    """A RewardsClaimed event pays more than the sequencer's unclaimed rewards."""

    code = 47


class BatchMismatchError(AppError):
    """A BatchSettled event names a batch nonce or digest that is not the in-flight batch."""

    code = 48


# --- queries (60-69) ---------------------------------------------------------------------


class QueryNotFoundError(AppError):
    """The queried record does not exist."""

    code = 60


class QueryBadRequestError(AppError):
    """The query path, its argument or its request data is malformed."""

    code = 61


class QueryBadHeightError(AppError):
    """The query asks for a height other than the latest committed one, the only one served."""

    code = 62


class QueryBadCursorError(QueryBadRequestError):
    """The page cursor is not one this query handed out."""

    code = 63


# --- node state (70-79) ------------------------------------------------------------------


class NotStartedError(AppError):
    """The chain has committed no block yet; retry after height 1."""

    code = 70


class InternalError(AppError):
    """A bug: the app failed while answering (the node's log has the traceback)."""

    code = 71


# --- relay (90-99) -----------------------------------------------------------------------


class InvalidAttestedTx(AppError):  # noqa: N818 (named in the README error table)
    """The attested-events tx does not match the votes it claims to carry."""

    code: ClassVar[int] = 90

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _collect_codes() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {AppError.code: ("AppError", AppError.describe())}
    pending: list[type[AppError]] = list(AppError.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.code in table:
            raise RuntimeError(f"duplicate error code {cls.code}: {cls.__name__}")
        if cls.code in RESERVED_CODES:
            raise RuntimeError(f"reserved error code {cls.code}: {cls.__name__}")
        table[cls.code] = (cls.__name__, cls.describe())
        pending.extend(cls.__subclasses__())
    return dict(sorted(table.items()))


ERROR_CODES: dict[int, tuple[str, str]] = _collect_codes()
