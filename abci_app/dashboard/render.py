"""HTML fragments of the dashboard's sections, built from an Overview.

Every value from the chain goes through html.escape (via `cell` and `esc`);
only the fixed markup here is written raw. Each render_* returns one
section's inner HTML, so the first paint and the refresh (server.py's JSON)
use the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from abci_app.chain.messages import state
from abci_app.dashboard.format import (
    NONE_TEXT,
    format_address,
    format_bps,
    format_count,
    format_short_hex,
    format_status,
    format_time_ns,
    format_wei,
)
from abci_app.dashboard.overview import Overview
from abci_app.dashboard.relay import ValidatorRelay


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def cell(text: object, title: object | None = None, cls: str = "") -> str:
    attrs = (f' class="{esc(cls)}"' if cls else "") + (
        f' title="{esc(title)}"' if title is not None else "")
    return f"<td{attrs}>{esc(text)}</td>"


def wei_cell(amount_wei: str) -> str:
    return cell(format_wei(amount_wei or "0"), title=f"{amount_wei or '0'} wei", cls="num")


def address_cell(address: bytes) -> str:
    return cell(format_short_hex(address), title=format_address(address), cls="mono")


def table(headers: Sequence[str], rows: Sequence[str], empty: str, attrs: str = "") -> str:
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def render_summary(view: Overview) -> str:
    head = view.l2_head
    items = [
        ("Chain", view.node.chain_id), ("Node", view.node.moniker),
        ("Height", format_count(view.node.height)), ("Block time", view.node.block_time),
        ("Catching up", "yes" if view.node.catching_up else "no"),
        ("Epoch", format_count(int(view.epoch.epoch))),
        ("Producer", _sequencer_name(int(view.epoch.producer_id))),
        ("L2 head", NONE_TEXT if head is None else format_count(int(head.height))),
        ("Next L2 producer", NONE_TEXT if head is None else _sequencer_name(
            int(head.next_producer_id))),
        ("Last applied L1 nonce", format_count(view.l1_last_nonce)),
    ]
    return "<dl>" + "".join(
        f'<div><dt>{esc(k)}</dt><dd{" id=height" if k == "Height" else ""}>{esc(v)}</dd></div>'
        for k, v in items) + "</dl>"


def _sequencer_name(sequencer_id: int) -> str:
    return "nobody" if sequencer_id == 0 else f"#{sequencer_id}"


def render_sequencer_row(seq: state.Sequencer, power: int) -> str:
    status = format_status(int(seq.status))
    jailed_until = int(seq.jailed_until_ns) if status == "jailed" else 0
    return (f'<tr data-sequencer-id="{int(seq.id)}" class="seq-{esc(status)}">'
            + cell(seq.id, cls="num") + address_cell(bytes(seq.owner))
            + address_cell(bytes(seq.signer)) + wei_cell(seq.locked_wei)
            + wei_cell(seq.l1_locked_wei) + cell(format_count(power), cls="num")
            + cell(status, cls=f"status status-{status}") + cell(format_time_ns(jailed_until))
            + cell(format_time_ns(int(seq.producer_jailed_until_ns)))
            + cell(format_count(int(seq.missed_productions)), cls="num")
            + cell(format_count(int(seq.out_of_turn_blocks)), cls="num")
            + wei_cell(seq.rewards_accrued_wei) + wei_cell(seq.rewards_settled_wei)
            + wei_cell(seq.rewards_claimed_wei) + "</tr>")


def render_sequencers(view: Overview) -> str:
    rows = [render_sequencer_row(s, view.powers.get(int(s.id), 0)) for s in view.sequencers]
    headers = ["ID", "Owner", "Signer", "Locked", "Locked on L1", "Power", "Status",
               "Jailed until", "Out of rotation until", "Missed productions",
               "Out-of-turn blocks", "Rewards accrued", "Rewards settled", "Rewards claimed"]
    return note("Amounts are in tokens of 18 decimals (hover for wei). Power counts only "
                "validators in the set that signs the next block; missed productions are "
                "producer faults, out-of-turn blocks L2 blocks made outside its turn.") + table(
        headers, rows, "No sequencers.", ' id="sequencers-table"')


def render_epoch_timeline(title: str, schedule: state.EpochSchedule, current: int) -> str:
    """One epoch's spans as a bar; `current` is the index of the span to highlight (-1: none)."""
    first, last = int(schedule.first_l2_height), int(schedule.last_l2_height)
    if not schedule.spans:
        seeded = "seeded, no spans" if schedule.seed else "not seeded yet"
        return f'<div class="epoch"><h3>{esc(title)}</h3>{note(seeded)}</div>'
    spans = list(schedule.spans)
    parts = []
    for index, span in enumerate(spans):
        start = int(span.from_l2_height)
        end = int(spans[index + 1].from_l2_height) - 1 if index + 1 < len(spans) else last
        width = max(end - start + 1, 1)
        cls = "span current" if index == current else "span"
        parts.append(f'<div class="{cls}" style="flex-grow:{width}" title="L2 {start}–{end}">'
                     f"{esc(_sequencer_name(int(span.sequencer_id)))}<small>"
                     f"{esc(start)}–{esc(end)}</small></div>")
    failed = ", ".join(f"#{i}" for i in schedule.failed_ids) or "none"
    return (f'<div class="epoch"><h3>{esc(title)}: epoch {esc(schedule.epoch)}, L2 heights '
            f'{esc(first)}–{esc(last)}</h3><div class="timeline">{"".join(parts)}</div>'
            + note(f"Re-elections: {schedule.reelections}; missed this epoch: {failed}; "
                   f"seed from L1 block {schedule.seed_l1_height or NONE_TEXT}"
                   f"{' (fallback)' if schedule.seed_fallback else ''}.") + "</div>")


def compute_current_span(schedule: state.EpochSchedule, next_l2_height: int) -> int:
    """Index of the span that produces `next_l2_height`, or -1."""
    current = -1
    for index, span in enumerate(schedule.spans):
        if int(span.from_l2_height) <= next_l2_height:
            current = index
    return current


def render_schedule(view: Overview) -> str:
    next_height = int(view.l2_head.height) + 1 if view.l2_head is not None else 0
    current = compute_current_span(view.schedule.current, next_height) if next_height else -1
    return (note("Each bar is an epoch of L2 heights; each segment a producer and the heights "
                 "it produces (a re-election after a missed production starts a new one). "
                 "The highlighted segment produces the next L2 block.")
            + render_epoch_timeline("Current", view.schedule.current, current)
            + render_epoch_timeline("Next", view.schedule.next, -1))


def render_relay_row(row: ValidatorRelay) -> str:
    ext = row.last_extension
    empty = [cell(NONE_TEXT)] * 5
    carried = empty if ext is None else [
        cell(format_count(ext.height), cls="num"),
        cell(format_count(ext.l1_confirmed_height), cls="num"),
        cell(ext.events, cls="num"), cell(ext.l2_headers, cls="num"),
        cell("yes" if ext.settlement_signature else "no")]
    health = "ok" if row.counted and row.signed * 3 > row.counted * 2 else "down"
    return (f'<tr data-sequencer-id="{row.sequencer_id}" class="relay-{health}">'
            + address_cell(row.address) + cell(_sequencer_name(row.sequencer_id))
            + cell(format_count(row.power), cls="num")
            + cell(f"{row.signed}/{row.counted}", cls=f"num relay-{health}")
            + "".join(carried) + "</tr>")


def render_sidecar(view: Overview) -> str:
    sidecar = view.sidecar
    if sidecar is None:
        return note("This node's home names no sidecar ([app] sidecar_address is empty).")
    status = sidecar.status
    if status is None:
        text = f"This node's sidecar at {sidecar.address} did not answer."
        return f'<p class="bad">{esc(text)}</p>'
    lag = max(int(status.l1_head) - int(status.confirmed_l1_height), 0)
    facts = [("L1 head seen", status.l1_head), ("Confirmed L1 height", status.confirmed_l1_height),
             ("Lag (blocks)", lag), ("Last observed nonce", status.last_observed_nonce),
             ("Pending (unconfirmed) events", status.pending_events),
             ("Halted by a deep reorg", "yes" if status.halted else "no"),
             ("Last error", status.last_error or "none")]
    return (f"<h3>This node's sidecar ({esc(sidecar.address)})</h3><dl>"
            + "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
            + "</dl>")


def render_relay(view: Overview) -> str:
    first, last = view.relay_heights
    headers = ["Validator", "Sequencer", "Power", "Signed", "Last extension (height)",
               "L1 confirmed it reported", "L1 events", "L2 headers", "Settlement signature"]
    return (note(f"From blocks {first}–{last}: 'Signed' counts the commits of those blocks this "
                 "validator signed; the other columns are its latest vote extension that a "
                 "proposer carried in an attested-events tx (carried only when the votes "
                 "attested something). The chain has applied L1 events up to nonce "
                 f"{view.l1_last_nonce}.")
            + table(headers, [render_relay_row(r) for r in view.relay], "No validators.")
            + render_sidecar(view))


def render_slash_row(record: state.SlashRecord) -> str:
    settled = "settled on L1" if record.settled else (
        f"batch {record.batch_nonce}" if record.batch_nonce else "not batched")
    return ("<tr>" + cell(record.id, cls="num") + cell(_sequencer_name(int(record.sequencer_id)))
            + cell(record.reason + (f" (rest of slash {record.carries_slash_id}, from the L1 "
                                    "queue)" if record.carries_slash_id else ""))
            + cell(format_count(int(record.height)), cls="num")
            + cell(format_time_ns(int(record.time_ns))) + cell(format_bps(int(record.fraction_bps)))
            + wei_cell(record.from_locked_wei) + wei_cell(record.from_pending_wei)
            + cell(settled) + "</tr>")


def render_slashes(view: Overview) -> str:
    headers = ["ID", "Sequencer", "Reason", "Height", "Time", "Fraction", "From lock",
               "From pending withdrawals", "Settlement"]
    return (note(f"Newest first; {view.slash_count} slash records read.")
            + table(headers, [render_slash_row(r) for r in view.slashes], "No slashes."))


def render_withdrawal_row(w: state.PendingWithdrawal) -> str:
    where = "claimable on L1" if w.released_on_l1 else (
        f"batch {w.batch_nonce}" if w.batch_nonce else (
            "releasable" if w.releasable else "waiting for the delay"))
    return ("<tr>" + cell(w.id, cls="num") + cell(_sequencer_name(int(w.sequencer_id)))
            + wei_cell(w.amount_wei) + wei_cell(w.slashed_wei)
            + cell(format_time_ns(int(w.requested_at_ns)))
            + cell(format_time_ns(int(w.releasable_at_ns)))
            + cell("yes" if w.full_exit else "no") + cell(where) + "</tr>")


def render_withdrawals(view: Overview) -> str:
    headers = ["ID", "Sequencer", "Amount", "Slashed", "Requested", "Releasable at",
               "Full exit", "State"]
    more = note("Only the first page is shown.") if view.withdrawals_more else ""
    return table(headers, [render_withdrawal_row(w) for w in view.withdrawals],
                 "No pending withdrawals.") + more


def render_settlement(view: Overview) -> str:
    pending: Any = view.settlement
    unbatched = (sum(not w.batch_nonce and w.releasable for w in view.withdrawals),
                 sum(not s.batch_nonce for s in view.slashes))
    waiting = note(f"Waiting for a batch: {unbatched[0]} releasable withdrawals, "
                   f"{unbatched[1]} recent slashes.")
    if pending is None:
        return note("No settlement batch is in flight.") + waiting
    batch = pending.batch
    facts = [("Batch nonce", batch.nonce), ("Formed at height", batch.formed_height),
             ("Withdrawals", len(batch.withdrawal_ids)), ("Slashes", len(batch.slash_ids)),
             ("Rewards", len(batch.rewards)), ("Signatures", len(batch.signatures)),
             ("Signed L1 stake", format_wei(pending.signed_stake_wei)),
             ("Total L1 stake", format_wei(pending.total_stake_wei)),
             ("Complete (> 2/3 signed)", "yes" if pending.complete else "no")]
    return ("<dl>" + "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
            + "</dl>" + note("A complete batch waits for a relayer to submit it to L1.") + waiting)


SECTIONS = (
    ("summary", "Chain", render_summary),
    ("sequencers", "Sequencers", render_sequencers),
    ("schedule", "Schedule", render_schedule),
    ("relay", "Relay health", render_relay),
    ("slashes", "Recent slashes", render_slashes),
    ("withdrawals", "Pending withdrawals", render_withdrawals),
    ("settlement", "Settlement backlog", render_settlement),
)


def render_sections(view: Overview) -> dict[str, str]:
    return {name: render(view) for name, _, render in SECTIONS}
