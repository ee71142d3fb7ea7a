"""Property tests: attacker bytes never raise, honest proposals always verify.

The scenario carries all four attested parts: L1 events, L2 headers after the
L2 genesis, the randomness the chain asked for, and an L1 confirmed height. A
second scenario adds each validator's settlement signature, one of them bad.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import pb
from abci_app.devnet.relay_testing import (
    compute_commit_info,
    get_valset,
    make_attested_tx,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
    make_settlement_key,
    make_settlement_signature,
)
from abci_app.relay.attested_tx import (
    ATTESTED_TX_PREFIX,
    InvalidAttestedTx,
    build_attested_tx,
    verify_attested_tx,
)
from abci_app.relay.codec import VoteExtension, encode_message
from abci_app.relay.extension import build_extension, decode_extension, verify_extension
from abci_app.relay.tally import is_supermajority, prune_extended_commit, tally_attested
from abci_app.relay.types import Attested, ExtensionData, RelayView, SettlementView
from abci_app.settlement import compute_signer_address

from .helpers import CHAIN_ID, HEIGHT, HEIGHT_VOTED, PARAMS, make_events, make_scenario

GENESIS = make_l2_genesis_hash()
SEED_REQUEST = 50
L1_HEIGHT = 40
EVENTS = make_events(1, 3)
HEADERS = make_l2_headers(1, 3, GENESIS)
RANDOMNESS = make_randomness(SEED_REQUEST)
VIEW = RelayView(last_applied_nonce=0, l2_head=(0, GENESIS), seed_request=SEED_REQUEST)
FULL = Attested(events=tuple(EVENTS), l2_headers=tuple(HEADERS), seed_randomness=RANDOMNESS,
                l1_confirmed_height=L1_HEIGHT)


def build_full_extension() -> bytes:
    return build_extension(EVENTS, 0, PARAMS, l2_headers=HEADERS, l2_head=(0, GENESIS),
                           randomness=RANDOMNESS, seed_request=SEED_REQUEST,
                           l1_confirmed_height=L1_HEIGHT)


EXTENSION = build_full_extension()
VALIDATORS, COMMIT = make_scenario({index: EXTENSION for index in range(4)})
VALSET = get_valset(VALIDATORS)
PROPOSED = compute_commit_info(COMMIT)
VALID_TX = build_attested_tx(COMMIT, FULL, PARAMS) or b""
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_attested(tx: bytes) -> Attested | str:
    """verify_attested_tx's answer: what it attests, or the rejection reason."""
    try:
        result = verify_attested_tx(tx, PROPOSED, VALSET, HEIGHT, CHAIN_ID, VIEW, PARAMS)
    except InvalidAttestedTx as exc:
        return exc.reason
    assert isinstance(result, Attested)
    return result


def is_consistent_with_full(result: Attested) -> bool:
    """A verified answer is a part of FULL: prefixes, FULL's seed or none, its height or 0."""
    return (list(result.events) == EVENTS[:len(result.events)]
            and list(result.l2_headers) == HEADERS[:len(result.l2_headers)]
            and result.seed_randomness in (None, RANDOMNESS)
            and result.l1_confirmed_height in (0, L1_HEIGHT))


def test_the_scenario_attests_all_four_parts() -> None:
    assert VALID_TX
    assert check_attested(VALID_TX) == FULL


@FUZZ
@given(st.binary(max_size=4096))
def test_decode_and_verify_extension_never_raise_on_random_bytes(data: bytes) -> None:
    decoded = decode_extension(data, PARAMS)
    assert decoded is None or isinstance(decoded, ExtensionData)
    assert verify_extension(data, PARAMS) is (decoded is not None)


_digests = st.binary(min_size=0, max_size=40)
_headers = st.builds(pb.l2.L2Header, height=st.integers(0, 2**64 - 1), hash=_digests,
                     parent_hash=_digests, producer=st.binary(max_size=24))
_randomness = st.builds(pb.l2.L1Randomness, l1_height=st.integers(0, 2**64 - 1),
                        mix_hash=_digests)
_settlement_signatures = st.builds(
    pb.relay.SettlementSignature, batch_nonce=st.integers(0, 2**64 - 1),
    signature=st.one_of(st.binary(min_size=65, max_size=65), st.binary(max_size=70)))


@st.composite
def _structured_extensions(draw: st.DrawFn) -> bytes:
    """Extensions shaped like honest ones, then bent: random headers, mixed with real ones."""
    headers = draw(st.lists(st.one_of(_headers, st.sampled_from(HEADERS)), max_size=5))
    message = VoteExtension(events=draw(st.lists(st.sampled_from(make_events(1, 5)), max_size=4)),
                            l2_headers=headers,
                            l1_confirmed_height=draw(st.integers(0, 2**64 - 1)))
    if draw(st.booleans()):
        message.seed_randomness.CopyFrom(draw(st.one_of(_randomness, st.just(RANDOMNESS))))
    if draw(st.booleans()):
        message.settlement_signature.CopyFrom(draw(_settlement_signatures))
    return encode_message(message)


@FUZZ
@given(_structured_extensions())
def test_structured_extensions_decode_or_are_malformed_never_raise(data: bytes) -> None:
    decoded = decode_extension(data, PARAMS)
    assert verify_extension(data, PARAMS) is (decoded is not None)
    if decoded is not None:
        heights = [int(h.height) for h in decoded.l2_headers]
        assert heights == list(range(heights[0], heights[0] + len(heights))) if heights else True


@FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_verify_attested_tx_never_raises_on_random_bytes(data: bytes, prefixed: bool) -> None:
    tx = ATTESTED_TX_PREFIX + data if prefixed else data
    assert isinstance(check_attested(tx), str)


@FUZZ
@given(st.data())
def test_mutated_valid_tx_is_rejected_or_carries_a_part(data: st.DataObject) -> None:
    tx = bytearray(VALID_TX)
    position = data.draw(st.integers(0, len(tx) - 1))
    action = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    if action == "flip":
        tx[position] ^= data.draw(st.integers(1, 255))
    elif action == "truncate":
        del tx[position:]
    elif action == "insert":
        tx[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del tx[position]
    result = check_attested(bytes(tx))
    if isinstance(result, str):
        return
    # A cut at a field boundary is a valid tx applying less (a proposer may attest a
    # part); canonical encoding leaves no other bytes that verify.
    assert is_consistent_with_full(result)
    assert bytes(tx) == VALID_TX or (action in ("truncate", "delete") and result != FULL)


@FUZZ
@given(st.data())
def test_forged_claims_are_rejected_unless_attested(data: st.DataObject) -> None:
    """The honest commit with claimed parts a proposer chose: only FULL's parts verify."""
    events = data.draw(st.lists(st.sampled_from(make_events(1, 4)), max_size=4))
    headers = data.draw(st.lists(st.one_of(st.sampled_from(make_l2_headers(1, 4, GENESIS)),
                                           st.sampled_from(make_l2_headers(1, 2, GENESIS,
                                                                           label="fork")),
                                           _headers), max_size=4))
    seed = data.draw(st.one_of(st.none(), st.just(RANDOMNESS), _randomness))
    height = data.draw(st.one_of(st.just(0), st.just(L1_HEIGHT), st.integers(0, 2**64 - 1)))
    result = check_attested(make_attested_tx(COMMIT, events, headers, seed, height))
    expected_ok = (events == EVENTS[:len(events)] and headers == HEADERS[:len(headers)]
                   and seed in (None, RANDOMNESS) and height in (0, L1_HEIGHT)
                   and (events or headers or seed is not None or height))
    assert (not isinstance(result, str)) is bool(expected_ok)


@FUZZ
@given(st.data())
def test_mutated_vote_fields_never_raise(data: st.DataObject) -> None:
    commit = type(COMMIT)()
    commit.CopyFrom(COMMIT)
    vote = commit.votes[data.draw(st.integers(0, 3))]
    field = data.draw(st.sampled_from(["power", "address", "flag", "extension", "signature"]))
    if field == "power":
        vote.validator.power = data.draw(st.integers(-(2**63), 2**63 - 1))
    elif field == "address":
        vote.validator.address = data.draw(st.binary(max_size=32))
    elif field == "flag":
        vote.block_id_flag = data.draw(st.integers(0, 5))
    elif field == "extension":
        vote.vote_extension = data.draw(st.one_of(st.binary(max_size=256),
                                                  _structured_extensions()))
    else:
        vote.extension_signature = data.draw(st.binary(max_size=80))
    events = data.draw(st.lists(st.sampled_from(make_events(1, 4)), max_size=4))
    headers = data.draw(st.lists(st.sampled_from(make_l2_headers(1, 4, GENESIS)), max_size=4))
    seed = data.draw(st.one_of(st.none(), st.just(RANDOMNESS)))
    result = check_attested(make_attested_tx(commit, events, headers, seed, L1_HEIGHT))
    assert isinstance(result, str) or is_consistent_with_full(result)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=7), st.data())
def test_honest_proposal_verifies_and_accepts_exactly_above_two_thirds(
    powers: list[int], data: st.DataObject
) -> None:
    attesting = data.draw(st.sets(st.integers(0, len(powers) - 1)))
    validators, commit = make_scenario({i: EXTENSION for i in sorted(attesting)}, powers=powers)
    valset = get_valset(validators)
    pruned = prune_extended_commit(commit, valset, HEIGHT_VOTED, CHAIN_ID, PARAMS)
    attested = tally_attested(pruned, valset, VIEW, PARAMS)
    attested_power = sum(powers[i] for i in attesting)
    assert (attested == FULL) is is_supermajority(attested_power, sum(powers))
    assert attested in (Attested(), FULL)
    tx = build_attested_tx(pruned, attested, PARAMS)
    if tx is not None:
        assert verify_attested_tx(tx, compute_commit_info(commit), valset, HEIGHT, CHAIN_ID,
                                  VIEW, PARAMS) == FULL


# ---------------------------------------------------------------- settlement signatures

SETTLE_NONCE, SETTLE_DIGEST = 4, bytes(range(32, 64))
SETTLE_KEYS = [make_settlement_key(i) for i in range(4)]
SETTLE_SIGNERS = [compute_signer_address(key) for key in SETTLE_KEYS]
# Validator 3 signs with a key that is not its stored signer: never counted.
SETTLE_SIGS = [make_settlement_signature(SETTLE_DIGEST, key, SETTLE_NONCE)
               for key in SETTLE_KEYS[:3] + [make_settlement_key(99)]]
SETTLE_VALIDATORS, SETTLE_COMMIT = make_scenario({
    i: build_extension(EVENTS, 0, PARAMS, settlement_signature=SETTLE_SIGS[i]) for i in range(4)})
SETTLE_VIEW = RelayView(settlement=SettlementView(
    SETTLE_NONCE, SETTLE_DIGEST,
    {v.entry.address: SETTLE_SIGNERS[i] for i, v in enumerate(SETTLE_VALIDATORS)}))
HONEST = {bytes(SETTLE_SIGS[i].signature): SETTLE_SIGNERS[i] for i in range(3)}


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(SETTLE_SIGS), _settlement_signatures,
                          st.sampled_from(SETTLE_SIGS).map(lambda s: pb.relay.SettlementSignature(
                              batch_nonce=SETTLE_NONCE + 1, signature=s.signature))),
                max_size=5))
def test_claimed_settlement_signatures_verify_only_if_counted_and_ascending(
    claimed: list[pb.relay.SettlementSignature],
) -> None:
    tx = make_attested_tx(SETTLE_COMMIT, [], settlement_signatures=claimed)
    try:
        result: Attested | None = verify_attested_tx(
            tx, compute_commit_info(SETTLE_COMMIT), get_valset(SETTLE_VALIDATORS), HEIGHT,
            CHAIN_ID, SETTLE_VIEW, PARAMS)
    except InvalidAttestedTx:
        result = None
    signers = [HONEST.get(bytes(sig.signature)) if sig.batch_nonce == SETTLE_NONCE else None
               for sig in claimed]
    known = [signer or b"" for signer in signers]
    expected_ok = (bool(claimed) and None not in signers
                   and all(a < b for a, b in zip(known, known[1:], strict=False)))
    assert (result is not None) is expected_ok
    if result is not None:
        assert [item.signer for item in result.settlement_signatures] == signers
