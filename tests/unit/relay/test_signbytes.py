"""Vote-extension sign bytes match CometBFT v0.38.25's VoteExtensionSignBytes."""

from nacl.signing import SigningKey

from abci_app.relay.signbytes import (
    compute_vote_extension_sign_bytes,
    verify_extension_signature,
)
from abci_app.valset import compute_consensus_address

# Computed by a Go program against CometBFT v0.38.25:
#   types.VoteExtensionSignBytes("seqset-test", &cmtproto.Vote{Type: PrecommitType,
#       Height: 12345, Round: 2, Extension: []byte("seqset-extension")})
# signed with Go's crypto/ed25519.NewKeyFromSeed(bytes 1..32); the address is
# CometBFT's ed25519.PubKey.Address().
GOLDEN_SEED = bytes(range(1, 33))
GOLDEN_SIGN_BYTES = bytes.fromhex(
    "310a107365717365742d657874656e73696f6e113930000000000000190200000000000000"
    "220b7365717365742d74657374")
GOLDEN_SIGNATURE = bytes.fromhex(
    "0804d8dad05a6671d8cdedcd8e8dec949340a9b665224455d83e18a08d8b1146"
    "84c421d44c2aeb5d06dfc8a11f581d095317b772cd37044d478e2916e1fded0d")
GOLDEN_PUB_KEY = bytes.fromhex(
    "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664")
GOLDEN_ADDRESS = bytes.fromhex("65B60673D6ED884BF01C2C222D82ADA0740F29AC")


def test_sign_bytes_match_cometbft_golden_vector() -> None:
    sign_bytes = compute_vote_extension_sign_bytes(b"seqset-extension", 12345, 2, "seqset-test")
    assert sign_bytes == GOLDEN_SIGN_BYTES


def test_sign_bytes_omit_zero_round_and_empty_extension_like_cometbft() -> None:
    # Go: VoteExtensionSignBytes("c", &Vote{Height: 1, Round: 0})
    assert compute_vote_extension_sign_bytes(b"", 1, 0, "c") == bytes.fromhex(
        "0c110100000000000000220163")


def test_sign_bytes_layout_is_length_prefix_then_canonical_fields() -> None:
    sign_bytes = compute_vote_extension_sign_bytes(b"ab", 7, 1, "x")
    body = sign_bytes[1:]
    assert sign_bytes[0] == len(body)
    assert body == (b"\x0a\x02ab" + b"\x11" + (7).to_bytes(8, "little")
                    + b"\x19" + (1).to_bytes(8, "little") + b"\x22\x01x")


def test_pynacl_signature_equals_go_signature_for_the_same_seed() -> None:
    key = SigningKey(GOLDEN_SEED)
    assert bytes(key.verify_key) == GOLDEN_PUB_KEY
    assert compute_consensus_address(GOLDEN_PUB_KEY) == GOLDEN_ADDRESS
    assert bytes(key.sign(GOLDEN_SIGN_BYTES).signature) == GOLDEN_SIGNATURE


def test_verify_accepts_cometbft_signature() -> None:
    assert verify_extension_signature(GOLDEN_PUB_KEY, GOLDEN_SIGNATURE, b"seqset-extension",
                                      12345, 2, "seqset-test")


def test_invalid_signature_for_other_height_round_chain_or_extension_is_rejected() -> None:
    args = (b"seqset-extension", 12345, 2, "seqset-test")
    for changed in [(b"seqset-extensioN", 12345, 2, "seqset-test"),
                    (b"seqset-extension", 12346, 2, "seqset-test"),
                    (b"seqset-extension", 12345, 3, "seqset-test"),
                    (b"seqset-extension", 12345, 2, "seqset-tesT")]:
        assert not verify_extension_signature(GOLDEN_PUB_KEY, GOLDEN_SIGNATURE, *changed)
    assert verify_extension_signature(GOLDEN_PUB_KEY, GOLDEN_SIGNATURE, *args)


def test_invalid_key_or_signature_shapes_return_false_without_raising() -> None:
    args = (b"x", 1, 0, "c")
    assert not verify_extension_signature(b"", GOLDEN_SIGNATURE, *args)
    assert not verify_extension_signature(GOLDEN_PUB_KEY, b"\x00" * 63, *args)
    assert not verify_extension_signature(b"\xff" * 32, b"\xff" * 64, *args)
    assert not verify_extension_signature(b"\x00" * 32, b"\x00" * 64, *args)
    assert not verify_extension_signature(GOLDEN_PUB_KEY, GOLDEN_SIGNATURE, b"x", 2**63, 0, "c")

