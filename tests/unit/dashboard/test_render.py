"""The dashboard's HTML: every chain value escaped, jailed sequencers marked, the
schedule's current producer highlighted, and a banner when the node is down."""

from __future__ import annotations

import base64
import re
from typing import Any

from abci_app import pb
from abci_app.chain.messages import query as query_pb
from abci_app.chain.messages import state
from abci_app.chain.state import ACTIVE, JAILED
from abci_app.client.rpc import ChainReadError
from abci_app.dashboard.overview import NodeStatus, Overview
from abci_app.dashboard.page import render_page
from abci_app.dashboard.relay import (
    BlockVotes,
    compute_block_votes,
    compute_validator_relay,
)
from abci_app.dashboard.render import (
    SECTIONS,
    compute_current_span,
    render_sections,
)
from abci_app.dashboard.server import read_snapshot
from abci_app.l1events_schema import ATTESTED_TX_PREFIX

HOSTILE = '<script>alert("x")</script>&'
TOKENS_1000 = str(1000 * 10**18)


def make_sequencer(seq_id: int, status: int = ACTIVE) -> state.Sequencer:
    return state.Sequencer(id=seq_id, owner=bytes([seq_id]) * 20, signer=bytes([seq_id + 16]) * 20,
                           locked_wei=TOKENS_1000, l1_locked_wei=TOKENS_1000, status=status,
                           jailed_until_ns=1_700_000_000 * 10**9 if status == JAILED else 0)


def make_overview(**changes: Any) -> Overview:
    schedule = state.EpochSchedule(
        epoch=3, seed=b"\x01" * 32, first_l2_height=21, last_l2_height=30,
        spans=[state.ProducerSpan(from_l2_height=21, sequencer_id=1),
               state.ProducerSpan(from_l2_height=25, sequencer_id=2)])
    values: dict[str, Any] = {
        "node": NodeStatus(HOSTILE, HOSTILE, 42, "2024-01-01T00:00:00Z", False),
        "sequencers": [make_sequencer(1), make_sequencer(2, JAILED)],
        "powers": {1: 1000},
        "epoch": query_pb.QueryEpochResponse(epoch=3, producer_id=2),
        "schedule": query_pb.QueryScheduleResponse(current=schedule),
        "l2_head": query_pb.QueryL2HeadResponse(height=26, next_producer_id=2),
        "l1_last_nonce": 7, "relay": [], "relay_heights": (33, 42), "sidecar": None,
        "slashes": [state.SlashRecord(id=1, sequencer_id=2, reason=HOSTILE, height=40,
                                      fraction_bps=100, from_locked_wei="10",
                                      from_pending_wei="0")],
        "slash_count": 1, "withdrawals": [], "withdrawals_more": False, "settlement": None,
    }
    values.update(changes)
    return Overview(**values)


def test_every_chain_string_is_escaped_in_every_section() -> None:
    sections = render_sections(make_overview())
    html = "".join(sections.values())
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert set(sections) == {name for name, _, _ in SECTIONS}


def test_sequencer_rows_carry_id_status_and_readable_amounts() -> None:
    html = render_sections(make_overview())["sequencers"]
    rows = re.findall(r'<tr data-sequencer-id="(\d+)" class="seq-(\w+)">', html)
    assert rows == [("1", "active"), ("2", "jailed")]
    assert '<td class="status status-jailed">jailed</td>' in html
    assert "2023-11-14 22:13:20 UTC" in html  # jailed until
    assert f'title="{TOKENS_1000} wei">1,000</td>' in html


def test_schedule_highlights_the_span_producing_the_next_l2_height() -> None:
    schedule = make_overview().schedule.current
    assert compute_current_span(schedule, 22) == 0
    assert compute_current_span(schedule, 27) == 1
    assert compute_current_span(schedule, 20) == -1
    html = render_sections(make_overview())["schedule"]
    assert re.search(r'class="span current"[^>]*>#2<small>25–30', html)
    assert "not seeded yet" in html  # the empty next epoch


def test_a_down_node_renders_a_visible_banner_and_empty_sections() -> None:
    class DownReader:
        class rpc:  # noqa: N801 - stands in for NodeRpc's attribute
            url = "http://127.0.0.1:1"

        def read(self) -> Overview:
            raise ChainReadError(f"node did not answer status: {HOSTILE}")

    snap = read_snapshot(DownReader())  # type: ignore[arg-type]
    assert snap.to_json()["ok"] is False and snap.sections == {}
    page = render_page(snap.sections, "t", snap.updated, snap.error, 3000)
    assert '<div id="banner" role="alert">The node at http://127.0.0.1:1 is unreachable' in page
    assert "<script>alert" not in page


def test_a_healthy_page_hides_the_banner_and_embeds_the_sections() -> None:
    sections = render_sections(make_overview())
    page = render_page(sections, "t", "last updated now", "", 3000)
    assert '<div id="banner" role="alert" hidden></div>' in page
    assert 'id="section-sequencers"><p class="note">' in page
    assert "setInterval(refresh, 3000)" in page
    assert "<noscript>" in page


def make_block(height: int, signers: dict[bytes, int], extensions: dict[bytes, Any]) -> Any:
    commit = pb.abci.ExtendedCommitInfo(round=0)
    for address, extension in extensions.items():
        vote = commit.votes.add()
        vote.validator.address = address
        vote.validator.power = 10
        vote.block_id_flag = 2
        vote.vote_extension = extension.SerializeToString()
        vote.extension_signature = b"\x01" * 64
    body = pb.relay.AttestedEventsTx(extended_commit_info=commit.SerializeToString())
    tx = ATTESTED_TX_PREFIX + body.SerializeToString(deterministic=True)
    return {"block": {
        "header": {"height": str(height)},
        "last_commit": {"signatures": [
            {"validator_address": a.hex().upper(), "block_id_flag": flag}
            for a, flag in signers.items()]},
        "data": {"txs": [base64.b64encode(tx).decode()]},
    }}


def test_relay_rows_count_signed_commits_and_read_the_latest_carried_extension() -> None:
    a, b = b"\xaa" * 20, b"\xbb" * 20
    extension = pb.relay.VoteExtension(l1_confirmed_height=99, l2_headers=[pb.l2.L2Header()])
    old = compute_block_votes(make_block(5, {a: 2, b: 2}, {a: pb.relay.VoteExtension()}))
    new = compute_block_votes(make_block(6, {a: 2, b: 1}, {a: extension}))
    assert new == BlockVotes(6, frozenset({a}), frozenset({a, b}), new.extensions)
    validators = [state.Validator(address=a, power=10, sequencer_id=1),
                  state.Validator(address=b, power=10, sequencer_id=2)]
    row_a, row_b = compute_validator_relay(validators, [old, new])
    assert (row_a.signed, row_a.counted) == (2, 2)
    assert row_a.last_extension is not None
    assert (row_a.last_extension.height, row_a.last_extension.l1_confirmed_height,
            row_a.last_extension.l2_headers) == (5, 99, 1)
    assert (row_b.signed, row_b.counted, row_b.last_extension) == (1, 2, None)
    html = render_sections(make_overview(relay=[row_a, row_b]))["relay"]
    assert 'class="num relay-down">1/2</td>' in html


def test_a_carried_slash_names_the_slash_it_completes() -> None:
    carried = state.SlashRecord(id=2, sequencer_id=2, reason="double_sign", height=41,
                                from_locked_wei="0", from_pending_wei="5", carries_slash_id=1)
    html = render_sections(make_overview(slashes=[carried], slash_count=1))["slashes"]
    assert "double_sign (rest of slash 1, from the L1 queue)" in html
    html = render_sections(make_overview())["slashes"]
    assert "rest of slash" not in html
