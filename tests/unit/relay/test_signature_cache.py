"""Each vote-extension signature is checked once per height (issue 15).

PrepareProposal prunes the extended commit, ProcessProposal and FinalizeBlock
each verify the attested tx built from it: the same signatures, three times.
"""

from collections.abc import Iterator

import pytest

from abci_app.devnet.relay_testing import (
    compute_commit_info,
    get_valset,
    make_event,
    make_extended_commit,
    make_validators,
)
from abci_app.relay import signbytes
from abci_app.relay.attested_tx import build_attested_tx, compute_attested_fit, verify_attested_tx
from abci_app.relay.extension import build_extension
from abci_app.relay.params import RelayParams
from abci_app.relay.tally import prune_extended_commit, tally_attested
from abci_app.relay.types import RelayView

CHAIN_ID = "sigcache-test"
HEIGHT = 7
VALIDATORS = 4


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The signatures actually checked with ed25519, in order."""
    signbytes.clear_extension_signature_cache()
    seen: list[bytes] = []
    real = signbytes._check_extension_signature

    def counting(pub_key: bytes, signature: bytes, *rest: object) -> bool:
        seen.append(signature)
        return real(pub_key, signature, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(signbytes, "_check_extension_signature", counting)
    yield seen
    signbytes.clear_extension_signature_cache()


def test_prepare_process_and_finalize_check_each_signature_once(checks: list[bytes]) -> None:
    params, view = RelayParams(), RelayView()
    validators = make_validators([10] * VALIDATORS)
    valset = get_valset(validators)
    extension = build_extension([make_event(1), make_event(2)], 0, params)
    commit = make_extended_commit(validators, dict.fromkeys(range(VALIDATORS), extension),
                                  HEIGHT - 1, CHAIN_ID)
    pruned = prune_extended_commit(commit, valset, HEIGHT - 1, CHAIN_ID, params)  # Prepare
    attested = compute_attested_fit(pruned, tally_attested(pruned, valset, view, params), params)
    assert attested is not None
    tx = build_attested_tx(pruned, attested, params)
    assert tx is not None
    proposed = compute_commit_info(pruned)
    for _ in range(2):  # ProcessProposal, then FinalizeBlock
        result = verify_attested_tx(tx, proposed, valset, HEIGHT, CHAIN_ID, view, params)
        assert len(result.events) == 2
    signatures = [bytes(vote.extension_signature) for vote in commit.votes]
    assert sorted(checks) == sorted(signatures)


def test_a_cached_answer_is_keyed_by_every_input(checks: list[bytes]) -> None:
    validators = make_validators([10])
    vote = make_extended_commit(validators, {0: b"ext"}, HEIGHT, CHAIN_ID).votes[0]
    pub_key = get_valset(validators)[0].pub_key
    signature = bytes(vote.extension_signature)
    assert signbytes.verify_extension_signature(pub_key, signature, b"ext", HEIGHT, 0, CHAIN_ID)
    assert signbytes.verify_extension_signature(pub_key, signature, b"ext", HEIGHT, 0, CHAIN_ID)
    for changed in ((b"exT", HEIGHT, 0, CHAIN_ID), (b"ext", HEIGHT + 1, 0, CHAIN_ID),
                    (b"ext", HEIGHT, 1, CHAIN_ID), (b"ext", HEIGHT, 0, CHAIN_ID + "x")):
        assert not signbytes.verify_extension_signature(pub_key, signature, *changed)
        assert not signbytes.verify_extension_signature(pub_key, signature, *changed)
    assert len(checks) == 5, "each distinct input checked once, valid or not"


def test_the_cache_is_bounded(checks: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signbytes, "SIGNATURE_CACHE_SIZE", 3)
    validators = make_validators([10])
    pub_key = get_valset(validators)[0].pub_key
    for height in range(5):
        signbytes.verify_extension_signature(pub_key, b"\x01" * 64, b"e", height, 0, CHAIN_ID)
    assert len(signbytes._verified) == 3
    signbytes.verify_extension_signature(pub_key, b"\x01" * 64, b"e", 0, 0, CHAIN_ID)
    assert len(checks) == 6, "the oldest answer was evicted and checked again"
