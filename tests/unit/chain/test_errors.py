"""The error table: codes are consensus, so they are pinned here."""

import gc

import pytest

from abci_app.errors import (
    ERROR_CODES,
    RESERVED_CODES,
    AppError,
    InsufficientLockError,
    _collect_codes,
)


def test_error_codes_are_pinned() -> None:
    assert {code: name for code, (name, _) in ERROR_CODES.items()} == {
        1: "AppError", 2: "GenesisError", 3: "ParamsError", 10: "ReservedPrefixError",
        11: "TxTooLargeError", 12: "TxDecodeError", 13: "BadSignatureError",
        14: "WrongChainIdError", 15: "UnknownMessageError", 16: "BadNonceError",
        17: "UnknownSequencerError", 18: "UnauthorizedSignerError", 19: "InvalidFieldError",
        20: "NotJailedError", 21: "JailPeriodNotOverError", 22: "TombstonedError",
        23: "InsufficientLockError", 24: "NotActiveError",
        40: "L1NonceGapError", 41: "L1NonceDuplicateError", 42: "SequencerExistsError",
        43: "ConsensusKeyInUseError", 44: "InvalidAmountError", 45: "EmptyL1EventError",
        46: "ReleaseExceedsReleasableError", 47: "ClaimExceedsRewardsError",
        48: "BatchMismatchError",
        60: "QueryNotFoundError", 61: "QueryBadRequestError", 62: "QueryBadHeightError",
        63: "QueryBadCursorError", 70: "NotStartedError", 71: "InternalError",
        90: "InvalidAttestedTx",
    }


def test_every_error_has_a_description() -> None:
    assert all(description for _, description in ERROR_CODES.values())


def test_error_carries_code_and_message() -> None:
    err = InsufficientLockError("requested 5 would leave 1 < min_lock 2")
    assert isinstance(err, AppError)
    assert err.code == 23
    assert str(err) == err.message == "requested 5 would leave 1 < min_lock 2"


def test_removed_l2_progress_codes_stay_reserved() -> None:
    assert set(RESERVED_CODES) == {30, 31, 32}
    assert not set(RESERVED_CODES) & set(ERROR_CODES)

    class ReusesAReservedCodeError(AppError):
        """Takes a code of the removed L2Progress tx."""

        code = 31

    try:
        with pytest.raises(RuntimeError, match="reserved error code 31"):
            _collect_codes()
    finally:
        del ReusesAReservedCodeError
        gc.collect()  # drop the throwaway class from AppError.__subclasses__()
