"""`seqset l1`'s plain functions: amounts, addresses and keys parsed exactly, reverts decoded
by name with their arguments, and the wait for the chain's nonce with its progress and timeout."""

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3.exceptions import ContractCustomError

from abci_app.client.rpc import ChainReadError
from abci_app.l1.contract import compute_error_selector, load_artifact
from abci_app.l1.operator import (
    L1_KEY_ENV,
    LAST_NONCE_PATH,
    OperatorError,
    get_chain_nonce,
    parse_address,
    parse_amount,
    parse_consensus_key,
    read_owner_key,
    wait_for_chain_nonce,
)
from abci_app.l1.relayer import ContractTarget, SettlementRevertedError
from abci_app.l1.reverts import decode_revert, get_revert_data

LOCKING_ABI, _ = load_artifact("Locking")
CALLER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
KEY = "0x" + "11" * 32


def revert_data(signature: str, types: list[str], values: list[Any]) -> str:
    return compute_error_selector(signature) + abi_encode(types, values).hex()


# ---------------------------------------------------------------- amounts, addresses, keys


@pytest.mark.parametrize(("text", "wei"), [
    ("1500", 1500),
    ("0", 0),
    ("1_000", 1000),
    ("1eth", 10**18),
    ("12.5eth", 12 * 10**18 + 5 * 10**17),
    ("12.5 ETH", 12 * 10**18 + 5 * 10**17),
    ("0.000000000000000001eth", 1),
])
def test_amount_is_wei_or_eth_with_its_suffix(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize("text", ["1.5", "-1", "1e18", "abc", "", "eth", "1.0000000000000000001eth",
                                  "1.eth.5"])
def test_invalid_amount_is_refused_with_its_text(text: str) -> None:
    with pytest.raises(OperatorError, match="not an amount"):
        parse_amount(text)


def test_address_is_checksummed_and_a_bad_one_names_the_option() -> None:
    assert parse_address(CALLER.lower(), "--signer") == CALLER
    with pytest.raises(OperatorError, match=r"--signer: not a 20-byte hex address: '0x1234'"):
        parse_address("0x1234", "--signer")


def test_consensus_key_must_be_32_bytes_of_hex() -> None:
    assert parse_consensus_key("0x" + "ab" * 32) == b"\xab" * 32
    with pytest.raises(OperatorError, match="--consensus-key: not 32 bytes"):
        parse_consensus_key("ab" * 31)
    with pytest.raises(OperatorError, match="--consensus-key: not 32 bytes"):
        parse_consensus_key("zz" * 32)


def test_owner_key_comes_from_the_file_first_then_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "owner.json"
    key_file.write_text(json.dumps({"private_key": KEY}))
    assert read_owner_key(key_file, {L1_KEY_ENV: "0x" + "22" * 32}) == KEY
    (tmp_path / "bare").write_text("11" * 32 + "\n")
    assert read_owner_key(tmp_path / "bare", {}) == KEY
    assert read_owner_key(None, {L1_KEY_ENV: KEY}) == KEY


def test_invalid_owner_key_sources_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match=f"give --key-file PATH or set {L1_KEY_ENV}"):
        read_owner_key(None, {})
    with pytest.raises(OperatorError, match="cannot read the key file"):
        read_owner_key(tmp_path / "missing", {})
    with pytest.raises(OperatorError, match=r"\$SEQSET_L1_KEY: the key has 31 bytes"):
        read_owner_key(None, {L1_KEY_ENV: "11" * 31})
    (tmp_path / "garbage").write_text('{"address": "0x"}')
    with pytest.raises(OperatorError, match="not a private key"):
        read_owner_key(tmp_path / "garbage", {})


# ---------------------------------------------------------------- reverts


def test_revert_is_decoded_to_its_name_and_arguments() -> None:
    data = revert_data("NotOwner(uint64,address)", ["uint64", "address"], [3, CALLER])
    revert = decode_revert(LOCKING_ABI, data)
    assert revert.name == "NotOwner"
    assert str(revert) == f"NotOwner(sequencerId=3, caller={CALLER})"


def test_revert_with_bytes_and_no_arguments_reads_naturally() -> None:
    key = b"\x01" * 32
    assert str(decode_revert(LOCKING_ABI, revert_data("KeyInUse(bytes32)", ["bytes32"], [key]))) \
        == f"KeyInUse(consensusKey=0x{key.hex()})"
    assert str(decode_revert(LOCKING_ABI, compute_error_selector("ZeroSigner()"))) == "ZeroSigner()"


def test_require_message_and_unknown_selector_are_still_one_line() -> None:
    assert str(decode_revert(LOCKING_ABI, revert_data("Error(string)", ["string"], ["nope"]))) \
        == "Error(message=nope)"
    unknown = decode_revert(LOCKING_ABI, "0xdeadbeef")
    assert unknown.name is None and "unknown error" in str(unknown)


def test_malformed_arguments_keep_the_name() -> None:
    truncated = compute_error_selector("NotOwner(uint64,address)") + "00" * 3
    assert decode_revert(LOCKING_ABI, truncated).name == "NotOwner"


def test_relayer_reverts_go_through_the_same_decoder() -> None:
    data = revert_data("BadBatchNonce(uint64,uint64)", ["uint64", "uint64"], [5, 4])
    dep = type("Dep", (), {"locking": type("L", (), {"abi": LOCKING_ABI})()})()
    target = ContractTarget(dep, KEY)
    with pytest.raises(SettlementRevertedError) as caught, target._decoded_reverts():
        raise ContractCustomError(data, data)
    assert caught.value.error_name == "BadBatchNonce"
    assert "BadBatchNonce(nonce=5, expected=4)" in str(caught.value)


def test_revert_data_is_read_from_the_web3_exception() -> None:
    assert get_revert_data(ContractCustomError("0xabcd", "0xabcd")) == "0xabcd"
    assert get_revert_data(ContractCustomError("execution reverted", None)) == ""


# ---------------------------------------------------------------- waiting for the chain


class FakeRpc:
    """Answers /l1/last_nonce from a script; None in the script means the node is down."""

    def __init__(self, nonces: list[int | None]) -> None:
        self.nonces = nonces
        self.paths: list[str] = []

    def query(self, path: str) -> Any:
        self.paths.append(path)
        nonce = self.nonces.pop(0) if len(self.nonces) > 1 else self.nonces[0]
        if nonce is None:
            raise ChainReadError("node http://x did not answer abci_query: refused")
        return type("Answer", (), {"nonce": nonce})()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_reports_each_new_chain_nonce_until_it_reaches_the_event() -> None:
    rpc, clock, heard = FakeRpc([10, 10, 11, 12]), FakeClock(), []
    got = wait_for_chain_nonce(rpc, 12, 60, heard.append, clock=clock,  # type: ignore[arg-type]
                               sleep=clock.sleep)
    assert got == 12 and heard == [10, 11, 12]
    assert set(rpc.paths) == {LAST_NONCE_PATH} == {"/l1/last_nonce"}


def test_wait_times_out_with_the_nonce_it_waited_for_and_where_the_chain_is() -> None:
    rpc, clock = FakeRpc([7]), FakeClock()
    with pytest.raises(OperatorError, match="timed out after 5s waiting for the chain to apply "
                                            "L1 event nonce 9: chain at nonce 7"):
        wait_for_chain_nonce(rpc, 9, 5, lambda _: None, clock=clock,  # type: ignore[arg-type]
                             sleep=clock.sleep)
    assert clock.now <= 5.5


def test_dead_node_while_waiting_is_one_line() -> None:
    with pytest.raises(OperatorError, match="did not answer"):
        get_chain_nonce(FakeRpc([None]))  # type: ignore[arg-type]
