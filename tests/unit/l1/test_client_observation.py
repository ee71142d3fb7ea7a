"""SidecarClient's checks on the L2 headers and randomness a sidecar answers."""

import pytest

from abci_app import pb
from abci_app.devnet.relay_testing import (
    make_event,
    make_l2_genesis_hash,
    make_l2_headers,
    make_randomness,
)
from abci_app.l1.client import (
    InvalidSidecarAnswerError,
    Observation,
    ObservedQuery,
    compute_observation,
)

HEADERS = make_l2_headers(6, 3, make_l2_genesis_hash())
QUERY = ObservedQuery(after_nonce=0, max_events=10, max_bytes=0, after_l2_height=5,
                      max_l2_headers=3, randomness_l1_height=40)


def answer(**fields: object) -> pb.sidecar.ObservedResponse:
    return pb.sidecar.ObservedResponse(**fields)


def test_a_valid_answer_is_typed() -> None:
    response = answer(events=[make_event(1)], l2_headers=HEADERS,
                      randomness=make_randomness(40), confirmed_l1_height=55)
    assert compute_observation(response, QUERY) == Observation(
        events=(make_event(1),), l2_headers=tuple(HEADERS), randomness=make_randomness(40),
        confirmed_l1_height=55)
    assert compute_observation(answer(), QUERY) == Observation()


@pytest.mark.parametrize("response", [
    answer(l2_headers=HEADERS[1:]),                       # not from after_l2_height + 1
    answer(l2_headers=[HEADERS[0], HEADERS[2]]),          # a gap
    answer(l2_headers=HEADERS + make_l2_headers(9, 1, HEADERS[-1].hash)),  # over the cap
    answer(l2_headers=[HEADERS[0]] + make_l2_headers(7, 1, b"\x01" * 32)),  # broken link
    answer(randomness=make_randomness(41)),               # not the height asked for
    answer(randomness=pb.l2.L1Randomness(l1_height=40, mix_hash=b"\x01")),
], ids=["start", "gap", "cap", "link", "other-height", "short-mix-hash"])
def test_invalid_answers_are_refused(response: pb.sidecar.ObservedResponse) -> None:
    with pytest.raises(InvalidSidecarAnswerError):
        compute_observation(response, QUERY)


def test_headers_when_none_were_asked_for_are_refused() -> None:
    query = ObservedQuery(after_nonce=0, max_events=10, max_bytes=0)
    with pytest.raises(InvalidSidecarAnswerError):
        compute_observation(answer(l2_headers=HEADERS), query)
    with pytest.raises(InvalidSidecarAnswerError):
        compute_observation(answer(randomness=make_randomness(40)), query)
