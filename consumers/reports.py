"""The facts of a report as the case store keeps them: who reported what, when and how.

An intake event (a dispute, petition or wage-arrears report) becomes one ``ReportRecord``,
keyed by its envelope id and tied to the case it opens; a case shows its own reports and
those its history links to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from schemas.reference.keys import case_id_for

if TYPE_CHECKING:  # the store module imports this one
    from consumers.store import Incoming

# The intake topics whose reports open cases, and the one event type each carries.
REPORT_TOPICS: dict[str, str] = {
    "intake.disputes": "dispute.reported.v1",
    "intake.petitions": "petition.filed.v1",
    "intake.wage-arrears": "wage_arrears.reported.v1",
}
KIND_BY_TYPE: dict[str, str] = {
    "dispute.reported.v1": "dispute",
    "petition.filed.v1": "petition",
    "wage_arrears.reported.v1": "wage_arrears",
}
LINKED = "case.linked.v1"
UNLINKED = "case.unlinked.v1"


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One intake report. ``data`` is the validated payload as JSON: parties with names,
    phones and id numbers, the employer, contact, amount and summary. Only the owning
    committee may read it."""

    report_id: str  # the envelope id
    case_id: str  # the case it opens
    kind: str  # dispute | petition | wage_arrears
    source: str
    channel: str
    time: datetime
    street: str  # as sent
    community: str | None
    data: dict[str, Any]


def is_report(item: Incoming) -> bool:
    return item.reason is None and item.type in KIND_BY_TYPE


def report_from(item: Incoming) -> ReportRecord:
    """The record of a decoded intake item."""
    assert item.type is not None and item.time is not None and item.source is not None
    d = item.data
    return ReportRecord(
        report_id=item.event_id,
        case_id=case_id_for(item.event_id, item.subject),
        kind=KIND_BY_TYPE[item.type],
        source=item.source,
        channel=str(d["channel"]),
        time=item.time,
        street=str(d["street"]),
        community=d.get("community"),
        data=_copy(d),  # the record never shares the item's dict
    )


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of decoded JSON, through orjson (a sixth of the standard library's round
    trip, which was 5 % of the sink's time). NaN becomes ``null``, as the store writes it
    anyway (``consumers.jsontext``); what orjson cannot write takes the standard library."""
    try:
        copied: dict[str, Any] = orjson.loads(orjson.dumps(data))
    except orjson.JSONEncodeError:
        copied = json.loads(json.dumps(data))
    return copied


def linked_report_ids(entries: Iterable[Any]) -> list[str]:
    """The reports a case's history links to it (and does not unlink later), in order.

    Only applied entries count: a link the store refused must not show another case's
    parties to this committee."""
    linked: dict[str, None] = {}
    for e in entries:
        rid = e.data.get("report_id") if isinstance(e.data, dict) else None
        if not isinstance(rid, str) or not e.applied:
            continue
        if e.type == LINKED:
            linked[rid] = None
        elif e.type == UNLINKED:
            linked.pop(rid, None)
    return list(linked)


def in_order(reports: Iterable[ReportRecord]) -> list[ReportRecord]:
    """Oldest report first (the one that opened the case), ties by id."""
    return sorted(reports, key=lambda r: (r.time, r.report_id))
