"""How the CLI prints answers: protobuf-JSON for `--output json`, tables for text.

Text rules: bytes print as 0x hex, enums by name without their type prefix, a
repeated record field as one table (its columns chosen in TABLE_COLUMNS, or
every scalar field), anything else as `name: value` lines, nested with dots.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# Record type -> the columns a person wants first, in order.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "seqset.v1.Sequencer": ("id", "status", "locked_wei", "signer", "owner", "jailed_until_ns",
                            "missed_productions", "rewards_accrued_wei"),
    "seqset.v1.Validator": ("sequencer_id", "address", "power"),
    "seqset.v1.PendingWithdrawal": ("id", "sequencer_id", "amount_wei", "releasable_at_ns",
                                    "releasable", "full_exit", "released_on_l1"),
    "seqset.v1.SlashRecord": ("id", "sequencer_id", "reason", "height", "fraction_bps",
                              "from_locked_wei", "from_pending_wei", "settled",
                              "carries_slash_id"),
    "seqset.v1.ProducerSpan": ("from_l2_height", "sequencer_id"),
    "seqset.v1.ProducedCount": ("sequencer_id", "l2_blocks"),
    "seqset.v1.ScheduleCandidate": ("sequencer_id", "power"),
}


def compute_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def render_json(value: Message | dict[str, Any]) -> str:
    doc = compute_json(value) if isinstance(value, Message) else value
    return json.dumps(doc, indent=2, sort_keys=False)


def compute_scalar_text(field: Any, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "0x" + bytes(value).hex() if value else "-"
    if field.type == FieldDescriptor.TYPE_ENUM:
        name = field.enum_type.values_by_number[value].name if value in \
            field.enum_type.values_by_number else str(value)
        prefix = _enum_prefix(field)
        return name.removeprefix(prefix).lower()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _enum_prefix(field: Any) -> str:
    """SEQUENCER_STATUS_ for SequencerStatus: the shared prefix proto style adds."""
    names = [v.name for v in field.enum_type.values]
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return str(prefix[: prefix.rfind("_") + 1])


def _is_repeated(field: Any) -> bool:
    return bool(field.is_repeated)


def compute_lines(message: Message, prefix: str = "", skip: str = "") -> list[str]:
    """`name: value` lines for every field but `skip` (defaults included), tables for
    record lists."""
    lines: list[str] = []
    for field in message.DESCRIPTOR.fields:
        if field.name == skip:
            continue
        value = getattr(message, field.name)
        name = prefix + field.name
        if _is_repeated(field) and field.type == FieldDescriptor.TYPE_MESSAGE:
            lines += [f"{name}: ({len(value)})"] + [
                "  " + row for row in render_table(list(value))] if value else [f"{name}: none"]
        elif _is_repeated(field):
            lines.append(f"{name}: " + (", ".join(
                compute_scalar_text(field, v) for v in value) or "none"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            lines += compute_lines(value, name + ".")
        else:
            lines.append(f"{name}: {compute_scalar_text(field, value)}")
    return lines


def render_table(records: list[Message]) -> list[str]:
    """Rows of aligned columns, a header first."""
    if not records:
        return ["(none)"]
    descriptor = records[0].DESCRIPTOR
    columns = TABLE_COLUMNS.get(descriptor.full_name) or tuple(
        f.name for f in descriptor.fields
        if not _is_repeated(f) and f.type != FieldDescriptor.TYPE_MESSAGE)
    fields = [descriptor.fields_by_name[c] for c in columns]
    rows = [list(columns)] + [
        [compute_scalar_text(f, getattr(r, f.name)) for f in fields] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def render_text(message: Message) -> str:
    """One table when the answer is one list of records, else name: value lines."""
    fields: list[Any] = list(message.DESCRIPTOR.fields)
    lists = [f for f in fields if _is_repeated(f) and f.type == FieldDescriptor.TYPE_MESSAGE]
    if len(lists) == 1:
        table = render_table(list(getattr(message, lists[0].name)))
        return "\n".join(table + compute_lines(message, skip=lists[0].name))
    return "\n".join(compute_lines(message))
