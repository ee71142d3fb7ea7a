"""Every state key of the chain. Changing one changes the app hash: the golden
test in tests/unit/chain/test_keys.py guards them.

Integers in keys are 8-byte big-endian so that ascending key order is numeric order.
"""

PARAMS = b"chain/params"
CHAIN_STATE = b"chain/state"
TOTALS = b"chain/totals"
SEQUENCER_PREFIX = b"chain/seq/"
CONSENSUS_INDEX_PREFIX = b"chain/cons/"  # consensus address -> sequencer id
ACCOUNT_PREFIX = b"chain/acct/"
WITHDRAWAL_PREFIX = b"chain/wd/"
SLASH_PREFIX = b"chain/slash/"
L1_NOOP_PREFIX = b"chain/l1noop/"
SIGNING_INFO_PREFIX = b"chain/sign/"
EPOCH_PREFIX = b"chain/epoch/"
VALSET_PREFIX = b"chain/valset/"
SETTLEMENT_BATCH_PREFIX = b"chain/batch/"
# Indexes kept by state.put_sequencer, so that no block reads every sequencer:
VALIDATOR_INDEX_PREFIX = b"chain/idx/val/"  # (power desc, id asc) of the eligible
SIGNER_INDEX_PREFIX = b"chain/idx/signer/"  # signer -> sequencer ids
REWARD_INDEX_PREFIX = b"chain/idx/reward/"  # sequencers with rewards not yet batched
# Kept by withdrawals.put_withdrawal, so that no block reads every queued withdrawal:
WITHDRAWAL_DUE_INDEX_PREFIX = b"chain/idx/due/"  # (releasable_at, id) of those in their delay
WITHDRAWAL_SEQUENCER_INDEX_PREFIX = b"chain/idx/wdseq/"  # (sequencer id, id) of all queued
U64_MAX = 2**64 - 1


def encode_u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def decode_u64(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def sequencer_key(sequencer_id: int) -> bytes:
    return SEQUENCER_PREFIX + encode_u64(sequencer_id)


def consensus_index_key(address: bytes) -> bytes:
    return CONSENSUS_INDEX_PREFIX + address


def account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address


def withdrawal_key(withdrawal_id: int) -> bytes:
    return WITHDRAWAL_PREFIX + encode_u64(withdrawal_id)


def slash_key(slash_id: int) -> bytes:
    return SLASH_PREFIX + encode_u64(slash_id)


def l1_noop_key(nonce: int) -> bytes:
    return L1_NOOP_PREFIX + encode_u64(nonce)


def signing_info_key(sequencer_id: int) -> bytes:
    return SIGNING_INFO_PREFIX + encode_u64(sequencer_id)


def epoch_key(epoch: int) -> bytes:
    return EPOCH_PREFIX + encode_u64(epoch)


def valset_key(height: int) -> bytes:
    return VALSET_PREFIX + encode_u64(height)


def settlement_batch_key(nonce: int) -> bytes:
    return SETTLEMENT_BATCH_PREFIX + encode_u64(nonce)


def validator_index_key(power: int, sequencer_id: int) -> bytes:
    """Ascending keys are power descending, then id ascending."""
    return VALIDATOR_INDEX_PREFIX + encode_u64(U64_MAX - power) + encode_u64(sequencer_id)


def decode_validator_index_key(key: bytes) -> tuple[int, int]:
    """(power, sequencer id) of a validator_index_key."""
    body = key[len(VALIDATOR_INDEX_PREFIX):]
    return U64_MAX - decode_u64(body[:8]), decode_u64(body[8:16])


def signer_index_prefix(signer: bytes) -> bytes:
    """The length byte keeps one signer's keys from prefixing a longer signer's."""
    return SIGNER_INDEX_PREFIX + encode_u64(len(signer)) + signer


def signer_index_key(signer: bytes, sequencer_id: int) -> bytes:
    return signer_index_prefix(signer) + encode_u64(sequencer_id)


def reward_index_key(sequencer_id: int) -> bytes:
    return REWARD_INDEX_PREFIX + encode_u64(sequencer_id)


def withdrawal_due_index_key(releasable_at_ns: int, withdrawal_id: int) -> bytes:
    return WITHDRAWAL_DUE_INDEX_PREFIX + encode_u64(max(releasable_at_ns, 0)) + encode_u64(
        withdrawal_id)


def withdrawal_sequencer_index_key(sequencer_id: int, withdrawal_id: int) -> bytes:
    return WITHDRAWAL_SEQUENCER_INDEX_PREFIX + encode_u64(sequencer_id) + encode_u64(
        withdrawal_id)


def decode_withdrawal_due_index_key(key: bytes) -> tuple[int, int]:
    """(releasable_at_ns, withdrawal id) of a withdrawal_due_index_key."""
    body = key[len(WITHDRAWAL_DUE_INDEX_PREFIX):]
    return decode_u64(body[:8]), decode_u64(body[8:16])
