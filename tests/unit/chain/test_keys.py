"""Golden keys: changing a state key changes the app hash and breaks consensus."""

from abci_app.chain import keys


def test_key_prefixes_are_unchanged() -> None:
    assert {
        "PARAMS": keys.PARAMS, "CHAIN_STATE": keys.CHAIN_STATE, "TOTALS": keys.TOTALS,
        "SEQUENCER_PREFIX": keys.SEQUENCER_PREFIX,
        "CONSENSUS_INDEX_PREFIX": keys.CONSENSUS_INDEX_PREFIX,
        "ACCOUNT_PREFIX": keys.ACCOUNT_PREFIX, "WITHDRAWAL_PREFIX": keys.WITHDRAWAL_PREFIX,
        "SLASH_PREFIX": keys.SLASH_PREFIX, "L1_NOOP_PREFIX": keys.L1_NOOP_PREFIX,
        "SIGNING_INFO_PREFIX": keys.SIGNING_INFO_PREFIX, "EPOCH_PREFIX": keys.EPOCH_PREFIX,
        "VALSET_PREFIX": keys.VALSET_PREFIX,
        "VALIDATOR_INDEX_PREFIX": keys.VALIDATOR_INDEX_PREFIX,
        "SIGNER_INDEX_PREFIX": keys.SIGNER_INDEX_PREFIX,
        "REWARD_INDEX_PREFIX": keys.REWARD_INDEX_PREFIX,
        "WITHDRAWAL_DUE_INDEX_PREFIX": keys.WITHDRAWAL_DUE_INDEX_PREFIX,
        "WITHDRAWAL_SEQUENCER_INDEX_PREFIX": keys.WITHDRAWAL_SEQUENCER_INDEX_PREFIX,
    } == {
        "PARAMS": b"chain/params", "CHAIN_STATE": b"chain/state", "TOTALS": b"chain/totals",
        "SEQUENCER_PREFIX": b"chain/seq/", "CONSENSUS_INDEX_PREFIX": b"chain/cons/",
        "ACCOUNT_PREFIX": b"chain/acct/", "WITHDRAWAL_PREFIX": b"chain/wd/",
        "SLASH_PREFIX": b"chain/slash/", "L1_NOOP_PREFIX": b"chain/l1noop/",
        "SIGNING_INFO_PREFIX": b"chain/sign/", "EPOCH_PREFIX": b"chain/epoch/",
        "VALSET_PREFIX": b"chain/valset/",
        "VALIDATOR_INDEX_PREFIX": b"chain/idx/val/",
        "SIGNER_INDEX_PREFIX": b"chain/idx/signer/",
        "REWARD_INDEX_PREFIX": b"chain/idx/reward/",
        "WITHDRAWAL_DUE_INDEX_PREFIX": b"chain/idx/due/",
        "WITHDRAWAL_SEQUENCER_INDEX_PREFIX": b"chain/idx/wdseq/",
    }


def test_record_keys_encode_integers_big_endian() -> None:
    assert keys.sequencer_key(258) == b"chain/seq/\x00\x00\x00\x00\x00\x00\x01\x02"
    assert keys.valset_key(1) < keys.valset_key(256)
    assert keys.account_key(b"\xaa" * 20) == b"chain/acct/" + b"\xaa" * 20


def test_index_keys_order_power_descending_then_id_ascending() -> None:
    assert keys.validator_index_key(1, 1) == (
        b"chain/idx/val/" + b"\xff" * 7 + b"\xfe" + b"\x00" * 7 + b"\x01")
    assert keys.validator_index_key(9, 5) < keys.validator_index_key(9, 6) < (
        keys.validator_index_key(8, 1))
    assert keys.decode_validator_index_key(keys.validator_index_key(9, 5)) == (9, 5)
    assert keys.signer_index_key(b"\xbb" * 20, 3) == (
        b"chain/idx/signer/" + keys.encode_u64(20) + b"\xbb" * 20 + keys.encode_u64(3))
    assert keys.reward_index_key(2) == b"chain/idx/reward/" + keys.encode_u64(2)
    assert keys.withdrawal_due_index_key(5, 7) < keys.withdrawal_due_index_key(5, 8) < (
        keys.withdrawal_due_index_key(6, 1))
    assert keys.decode_withdrawal_due_index_key(keys.withdrawal_due_index_key(5, 7)) == (5, 7)
    assert keys.withdrawal_sequencer_index_key(2, 9) == (
        b"chain/idx/wdseq/" + keys.encode_u64(2) + keys.encode_u64(9))


def test_no_prefix_is_a_prefix_of_another() -> None:
    prefixes = [v for k, v in vars(keys).items() if k.endswith("_PREFIX")]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a)
