"""Intake decisions: validate raw bytes, drop duplicates, normalise to a Case, link it to an
open case of the same matter or route it.

Pure code over a ``MutableMapping`` for the dedupe state (and a ``LinkIndex`` over the link
rows), so the faust agent passes tables and tests pass dicts. Every output carries a
deterministic id so sinks can be idempotent.
"""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.events import CaseLinked, DeadLetter, dump
from schemas.parse import EventRejected, ParsedEvent, parse_intake_bytes
from streams.cases import Case, case_from_event, case_from_row, case_to_row
from streams.linking import Linked, LinkIndex
from streams.linkkeys import KeyMaker
from streams.routing import Decision, Router

WORKER_SOURCE = "fengqiao/worker"

TOPIC_TYPES = {
    "intake.disputes": "dispute.reported.v1",
    "intake.petitions": "petition.filed.v1",
    "intake.wage-arrears": "wage_arrears.reported.v1",
    "intake.consultations": "consultation.recorded.v1",
}


@dataclass(slots=True)  # not frozen: see streams.cases.Case
class Out:
    """One message to publish: logical topic name (no prefix), key, and envelope dict."""

    topic: str
    key: str
    value: dict[str, Any]


def envelope(
    event_id: str, type_: str, time: datetime, data: dict[str, Any], subject: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": WORKER_SOURCE,
        "type": type_,
        "time": time.isoformat(),
        "subject": subject,
        "data": data,
    }


@dataclass
class IntakeStats:
    received: int = 0
    valid: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    consultations: int = 0
    routed: int = 0
    linked: int = 0
    unlinked: int = 0
    dead_by_class: dict[str, int] = field(default_factory=dict)


@dataclass
class IntakeResult:
    """``case``: the case the message opened (None for a report that joined an open case:
    ``linked`` then says which, and ``report`` is the report as a case, never forwarded to
    incident windows or risk)."""

    outs: list[Out]
    case: Case | None = None
    decision: Decision | None = None
    parsed: ParsedEvent | None = None
    duplicate: bool = False
    rejected: EventRejected | None = None
    linked: Linked | None = None
    report: Case | None = None


class IntakeProcessor:
    """Turns one intake message into the messages it causes."""

    def __init__(
        self,
        router: Router,
        seen: MutableMapping[str, list[Any]],
        *,
        dedupe_horizon: timedelta = timedelta(days=7),
        max_future: timedelta = timedelta(minutes=10),
        links: LinkIndex | None = None,
    ) -> None:
        self.router = router
        self.seen = seen
        self.links = links
        self._keys = KeyMaker(links.cfg.salt) if links is not None else None
        self.horizon = dedupe_horizon
        self.max_future = max_future
        self.stats = IntakeStats()

    def dead_letter(
        self,
        raw: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        err: EventRejected,
        now: datetime,
    ) -> Out:
        dl = DeadLetter(
            original_b64=base64.b64encode(raw or b"").decode(),
            source_topic=topic,
            partition=partition,
            offset=offset,
            reason=err.reason,
            error_class=err.error_class,
            received_at=now,
        )
        event_id = f"deadletter:{topic}:{partition}:{offset}"
        return Out("intake.deadletter", topic, envelope(event_id, "deadletter.v1", now, dump(dl)))

    def handle(
        self, raw: bytes | None, topic: str, partition: int, offset: int, now: datetime
    ) -> IntakeResult:
        self.stats.received += 1
        try:
            parsed = parse_intake_bytes(
                raw, now=now, max_future=self.max_future, expected_type=TOPIC_TYPES.get(topic)
            )
        except EventRejected as err:
            self.stats.dead_letters += 1
            self.stats.dead_by_class[err.error_class] = (
                self.stats.dead_by_class.get(err.error_class, 0) + 1
            )
            return IntakeResult(
                [self.dead_letter(raw, topic, partition, offset, err, now)], rejected=err
            )
        self.stats.valid += 1
        env = parsed.envelope
        event_ts = env.time.timestamp()
        origin = [topic, partition, offset]
        first = self.seen.get(env.id)
        if first is None:
            self.seen[env.id] = [event_ts, *origin]
        elif list(first[1:]) != origin:
            # Another message with an id already seen: a producer's retry or a resend.
            if abs(event_ts - first[0]) <= self.horizon.total_seconds():
                self.stats.duplicates += 1
                return IntakeResult([], parsed=parsed, duplicate=True)
            self.seen[env.id] = [event_ts, *origin]
        # else: the very message first seen, delivered again after a crash or rebalance
        # before its offset was committed. Its outputs may not have been sent, so it is
        # processed again; they carry the same ids, and every sink is idempotent on them.
        case = case_from_event(parsed, self.router.catalogue.streets)
        if case is None:
            self.stats.consultations += 1
            return IntakeResult([], parsed=parsed)
        related: tuple[str, ...] = ()
        if self.links is not None and self._keys is not None:
            keys = self._keys.keys_for(case.kind, parsed.payload)
            outcome = self.links.decide(
                case.case_id,
                case.kind,
                keys,
                event_ts,  # the case's time is the envelope's
                case.channel,
                partition,
                lambda: case_to_row(case),
            )
            if isinstance(outcome, Linked):
                self.stats.linked += 1
                out = linked_out(case, outcome)
                return IntakeResult([out], parsed=parsed, linked=outcome, report=case)
            related = outcome.related
        return self._routed(case, parsed, related)

    def _routed(
        self, case: Case, parsed: ParsedEvent | None, related: tuple[str, ...]
    ) -> IntakeResult:
        decision = self.router.route(case)
        data = decision.routed_data(case)
        if related:
            # "possibly related": open cases sharing only a weak key (same respondent and
            # street, another applicant), for the mediator to judge
            data["related"] = list(related)
        out = Out(
            "cases.routed",
            decision.committee_id,
            envelope(f"{case.case_id}/routed", "case.routed.v1", case.time, data, case.case_id),
        )
        self.stats.routed += 1
        return IntakeResult([out], case=case, decision=decision, parsed=parsed)

    def unlink(self, case_id: str, report_id: str) -> IntakeResult:
        """A mediator unlinked ``report_id`` from ``case_id``: the report is routed as a case of
        its own (with the same routed id it would have had). Nothing when it was not linked."""
        row = self.links.unlink(case_id, report_id) if self.links is not None else None
        if row is None:
            return IntakeResult([])
        self.stats.unlinked += 1
        return self._routed(case_from_row(row), None, (case_id,))

    def merged(self, case_id: str, other_id: str) -> bool:
        """A mediator linked ``other_id`` to ``case_id`` by hand: later reports of either join
        ``case_id``. Nothing is routed or counted again: both were cases already."""
        return self.links.merge(case_id, other_id) if self.links is not None else False

    def closed(self, case_id: str) -> None:
        """A case was concluded or closed: later reports open a case of their own."""
        if self.links is not None:
            self.links.close(case_id)


def linked_out(report: Case, linked: Linked) -> Out:
    """``case.linked.v1`` for a report that joined an open case, on that case's key."""
    event = CaseLinked(
        case_id=linked.case_id,
        report_id=report.event_id,
        channel=report.channel,
        matched=list(linked.matched),
        kind=report.kind,
        reported_at=report.time,
    )
    return Out(
        "cases.lifecycle",
        linked.case_id,
        envelope(
            f"{report.event_id}/linked",
            "case.linked.v1",
            report.time,
            dump(event),
            subject=linked.case_id,
        ),
    )
