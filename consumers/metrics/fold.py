"""The event fold: each message read from a monitored topic updates the metrics and the
dashboard's state. Plain code over an injected ``CollectorRegistry``; no Kafka in here.

Labels are bounded: every code passes through the ``Vocabulary`` (catalogue codes and the
contracts' enums, else ``unknown``), never a case id, a name or free text. The worker is
at-least-once, so every count is idempotent on the event's id (or on the incident id, whose
later updates only add the difference).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from consumers import labels
from consumers.metrics.config import FoldConfig
from consumers.metrics.dedupe import ExpiringIds
from consumers.metrics.families import Metrics
from consumers.metrics.snapshot import render
from consumers.metrics.state import DashboardState, OpenCase
from consumers.metrics.topics import INTAKE_TOPICS, KNOWN_TOPICS, OTHER_TOPIC, TOPICS
from consumers.metrics.vocabulary import UNKNOWN, UNKNOWN_NAME, Vocabulary
from schemas.envelope import Envelope
from schemas.events import (
    INTAKE_TYPES,
    CaseAccepted,
    CaseClosed,
    CaseConcluded,
    CaseLinked,
    CaseRouted,
    CaseTransferred,
    ConsultationRecorded,
    DeadLetter,
    DisputeReported,
    EscalationRaised,
    IncidentDetected,
    PetitionFiled,
    RiskLevelChanged,
    SlaBreached,
    SlaWarning,
    WageArrearsReported,
)
from schemas.parse import EventRejected, parse_event

log = logging.getLogger("fengqiao.metrics")

LEVEL_VALUE = {level: i for i, level in enumerate(labels.LEVEL_ORDER)}

Clock = Callable[[], datetime]


def _ref(kind: str, ident: str) -> str:
    """An opaque handle for a feed entry: ids may embed keys, and keys may embed names."""
    return hashlib.sha256(f"{kind}:{ident}".encode()).hexdigest()[:16]


def _amount(value: Decimal | str | None) -> float:
    if value is None:
        return 0.0
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


def earlier_risk_id(raw: Any) -> Any:
    """A risk level change as earlier workers wrote it (decoded), with its id made valid.

    Their ids held the time as ``isoformat`` writes it, ending "+00:00"
    (``risk:haibin/labor:2022-01-04T11:59:28+00:00:blue``), and the envelope's id pattern has no
    "+": every one was unreadable.
    ``risk.levels`` is compacted to the last change of each cell, so a cell whose level has not
    changed since an upgrade is known only by such a message; read as it is, the command center
    would leave the cell out until its level next changes. The fold uses no id of a level change,
    so the "+00:00" is read as "Z". Anything else is passed on unchanged, to be judged."""
    ident = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(ident, str) or not ident.startswith("risk:") or "+00:00" not in ident:
        return raw
    return {**raw, "id": ident.replace("+00:00", "Z")}


def _topic(name: str) -> str:
    return name if name in TOPICS else UNKNOWN


class MetricsSink:
    """Applies events to the metrics and keeps the dashboard's state.

    ``clock`` is "now" for overdue cases and "today": the wall clock in production, or, when
    None, the newest event time seen (a replayed or simulated year). ``vocabulary`` defaults
    to the packaged Longwan catalogue.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        clock: Clock | None = None,
        dedupe_horizon: timedelta = timedelta(days=7),
        utc_offset: timedelta = timedelta(hours=8),
        feed_size: int = 50,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.m = Metrics(registry)
        self.vocab = vocabulary or Vocabulary.default()
        self.clock = clock
        self.tz = timezone(utc_offset)
        self.lock = threading.RLock()
        self.state = DashboardState(self.tz, feed_size)
        self.intake_ids = ExpiringIds(dedupe_horizon)
        self.derived_ids = ExpiringIds(dedupe_horizon)
        self.closed_ids = ExpiringIds(dedupe_horizon)
        self.incident_people: dict[str, int] = {}
        self.incident_rule: dict[str, str] = {}
        self.incident_street: dict[str, str] = {}
        self.newest_event: datetime | None = None

    @classmethod
    def from_config(
        cls, registry: CollectorRegistry, config: FoldConfig, vocabulary: Vocabulary
    ) -> MetricsSink:
        return cls(
            registry,
            clock=(lambda: datetime.now(UTC)) if config.wall_clock else None,
            dedupe_horizon=config.dedupe_horizon,
            utc_offset=config.utc_offset,
            feed_size=config.feed_size,
            vocabulary=vocabulary,
        )

    # --- time --------------------------------------------------------------------------

    def now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        return self.newest_event or datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def _saw_time(self, when: datetime) -> None:
        if self.newest_event is None or when > self.newest_event:
            self.newest_event = when
            self.m.sink_event_time.set(when.timestamp())

    # --- events ------------------------------------------------------------------------

    def handle(self, topic: str, value: bytes | None, timestamp_ms: int | None = None) -> None:
        """Apply one message read from ``topic`` (its logical name, without the prefix)."""
        with self.lock:
            self.m.sink_events.labels(topic=_topic(topic)).inc()
            try:
                self._handle(topic, value, timestamp_ms)
            except (ValueError, ValidationError, EventRejected, KeyError, TypeError) as err:
                # Bad derived events are counted, not fatal: the sink must keep up.
                self.m.sink_unreadable.labels(topic=_topic(topic)).inc()
                log.warning("unreadable message on %s: %s", _topic(topic), type(err).__name__)

    def _envelope(self, topic: str, value: bytes | None) -> Envelope:
        if not value:
            raise ValueError("empty message")
        raw = json.loads(value)
        return Envelope.model_validate(earlier_risk_id(raw) if topic == "risk.levels" else raw)

    def _handle(self, topic: str, value: bytes | None, timestamp_ms: int | None) -> None:
        if topic in INTAKE_TOPICS:
            self._intake(topic, value)
            return
        if topic == "risk.levels" and not value:
            return  # a compaction tombstone
        env = self._envelope(topic, value)
        self._saw_time(env.time)
        if topic == "incidents":
            self._incident(env, IncidentDetected.model_validate(env.data))
            return
        if topic == "risk.levels":
            # ``dump()`` drops a None previous_level (the first change of a cell), but the model
            # has no default for it: read a missing one as None.
            self._risk(RiskLevelChanged.model_validate({"previous_level": None, **env.data}))
            self.state.note_risk_day(env.time)
            return
        if self.derived_ids.seen_before(f"{topic}|{env.id}", env.time.timestamp()):
            return
        if topic == "intake.deadletter":
            dl = DeadLetter.model_validate(env.data)
            source = UNKNOWN
            for logical in INTAKE_TOPICS:
                if dl.source_topic.endswith(logical):
                    source = logical
            self.m.dead_letters.labels(topic=source, reason_class=dl.error_class).inc()
            self.state.tally(env.time, "dead_letters")
        elif topic == "cases.routed":
            self._routed(env, CaseRouted.model_validate(env.data), timestamp_ms)
        elif topic == "cases.lifecycle":
            self._lifecycle(env)
        elif topic == "escalations":
            self._escalation(env, EscalationRaised.model_validate(env.data))
        elif topic == "sla.alerts":
            self._sla(env)
        else:
            raise KeyError(topic)

    def _intake(self, topic: str, value: bytes | None) -> None:
        if not value:
            return  # the worker dead-letters it; counted from intake.deadletter
        try:
            parsed = parse_event(json.loads(value), allowed_types=dict(INTAKE_TYPES))
        except (ValueError, EventRejected):
            return  # likewise
        env, p = parsed.envelope, parsed.payload
        self._saw_time(env.time)
        if self.intake_ids.seen_before(env.id, env.time.timestamp()):
            self.m.duplicates.labels(topic=topic).inc()
            self.state.tally(env.time, "duplicates")
            return
        v = self.vocab
        if isinstance(p, ConsultationRecorded):
            self.m.consultations.labels(
                category=v.category(p.category), channel=v.channel(p.channel)
            ).inc()
            self.state.tally(env.time, "consultation")
            return
        amount: Decimal | None
        if isinstance(p, DisputeReported):
            kind, amount = "dispute", p.amount_yuan
        elif isinstance(p, PetitionFiled):
            kind, amount = "petition", None
        elif isinstance(p, WageArrearsReported):
            kind, amount = "wage_arrears", p.amount_yuan
        else:  # pragma: no cover - INTAKE_TYPES is closed
            return
        category = "labor" if kind == "wage_arrears" else getattr(p, "category", None)
        self.m.received.labels(
            kind=kind,
            category=v.category(category),
            street=v.street(p.street),
            channel=v.channel(p.channel),
        ).inc()
        if amount is not None:
            self.m.amount_reported.labels(kind=kind).inc(_amount(amount))
        self.state.tally(env.time, kind)

    def _routed(self, env: Envelope, r: CaseRouted, timestamp_ms: int | None) -> None:
        committee = self.vocab.committee(r.committee_id)
        self.m.routed.labels(committee=committee, tier=self.vocab.tier(r.tier)).inc()
        if timestamp_ms is not None:
            written = timestamp_ms / 1000.0
            self.m.latency.labels(kind=self.vocab.kind(r.kind)).observe(
                max(written - env.time.timestamp(), 0.0)
            )
        self.state.tally(env.time, "routed")
        if not self.closed_ids.known(r.case_id):
            self.state.open_cases[r.case_id] = OpenCase(committee, r.deadline)
        self.state.committees.add(committee)

    def _lifecycle(self, env: Envelope) -> None:
        if env.type == "case.accepted.v1":
            CaseAccepted.model_validate(env.data)
            self.m.accepted.inc()
        elif env.type == "case.assigned.v1":
            return  # who works a case is not a metric
        elif env.type == "case.transferred.v1":
            t = CaseTransferred.model_validate(env.data)
            self.m.transferred.inc()
            case = self.state.open_cases.get(t.case_id)
            if case is not None:
                case.committee = self.vocab.committee(t.to_committee_id)
                self.state.committees.add(case.committee)
        elif env.type in ("case.concluded.v1", "case.closed.v1"):
            model = CaseConcluded if env.type == "case.concluded.v1" else CaseClosed
            ended = model.model_validate(env.data)
            if isinstance(ended, CaseConcluded):
                self.m.concluded.labels(outcome=ended.outcome).inc()
                self.m.agreed_amount.inc(_amount(ended.agreed_amount_yuan))
                self.state.tally(env.time, "concluded")
            self.state.open_cases.pop(ended.case_id, None)
            self.closed_ids.seen_before(ended.case_id, env.time.timestamp())
        elif env.type == "case.linked.v1":
            link = CaseLinked.model_validate(env.data)
            self.m.linked.labels(
                kind=self.vocab.kind(link.kind), channel=self.vocab.channel(link.channel)
            ).inc()
            self.state.tally(env.time, "linked")
        elif env.type == "case.unlinked.v1":
            pass  # the report is routed as a case of its own: counted from cases.routed
        else:
            raise ValueError("unknown lifecycle event type")

    def _incident(self, env: Envelope, inc: IncidentDetected) -> None:
        rule = self.vocab.rule(inc.rule_id)
        before = self.incident_people.get(inc.incident_id)
        if before is None:
            self.m.incidents.labels(rule=rule).inc()
            self.state.tally(env.time, "incidents")
            before = 0
        if inc.people > before:
            self.m.incident_people.labels(rule=rule).inc(inc.people - before)
            self.incident_people[inc.incident_id] = inc.people
        else:
            self.incident_people.setdefault(inc.incident_id, before)
        self.incident_rule[inc.incident_id] = rule
        # Incidents of older workers carried the street as an extra field, not a declared one.
        street = self.vocab.street(inc.street or (inc.model_extra or {}).get("street"))
        shown = self.vocab.street_name(street) if street != UNKNOWN else ""
        shown = shown or self.incident_street.get(inc.incident_id, "")
        self.incident_street[inc.incident_id] = shown
        # The feed names the rule, never the key (it may be an employer's or a person's name).
        entry = {
            "ref": _ref("incident", inc.incident_id),
            "type": "incident",
            "time": env.time.isoformat(),
            "rule": rule,
            "label": labels.INCIDENT_RULES.get(rule, UNKNOWN_NAME),
            "street": shown,
            "people": self.incident_people[inc.incident_id],
            "cases": len(inc.case_ids),
            "amount_yuan": _amount(inc.amount_yuan),
        }
        self.state.add_to_feed(entry)

    def _escalation(self, env: Envelope, esc: EscalationRaised) -> None:
        self.m.escalations.labels(level=esc.level).inc()
        self.state.tally(env.time, "escalations")
        rule = self.incident_rule.get(esc.incident_id or "")
        if rule is not None:
            cause = labels.INCIDENT_RULES.get(rule, UNKNOWN_NAME)
        elif esc.case_id is not None:
            cause = "超时未办结"
        else:
            cause = ""
        self.state.add_to_feed(
            {
                "ref": _ref("escalation", esc.escalation_id),
                "type": "escalation",
                "time": env.time.isoformat(),
                "level": esc.level,
                "label": labels.ESCALATION_LEVELS.get(esc.level, esc.level),
                "to": self.vocab.committee_name(self.vocab.committee(esc.to_committee_id)),
                "cause": cause,
            }
        )

    def _risk(self, r: RiskLevelChanged) -> None:
        street, category = self.vocab.street(r.street), self.vocab.category(r.category)
        key = (street, category)
        previous = self.state.risk.get(key)
        if previous is not None:
            self.m.risk_cells.labels(level=previous[0]).dec()
        self.state.risk[key] = (r.level, r.score)
        self.m.risk_cells.labels(level=r.level).inc()
        self.m.risk_score.labels(street=street, category=category).set(r.score)
        self.m.risk_level.labels(street=street, category=category).set(LEVEL_VALUE[r.level])

    def _sla(self, env: Envelope) -> None:
        if env.type == "sla.warning.v1":
            w = SlaWarning.model_validate(env.data)
            self.m.sla_warnings.labels(clock=w.clock).inc()
        elif env.type == "sla.breached.v1":
            b = SlaBreached.model_validate(env.data)
            self.m.sla_breaches.labels(clock=b.clock).inc()
            self.state.tally(env.time, "sla_breaches")
            case = self.state.open_cases.get(b.case_id)
            if case is not None:
                case.breached = True
        else:
            raise ValueError("unknown SLA event type")

    # --- derived state -----------------------------------------------------------------

    def overdue_by_committee(self, now: datetime | None = None) -> dict[str, int]:
        return self.state.overdue_by_committee(now or self.now())

    def refresh(self) -> None:
        """Recompute the open/overdue gauges (cheap; called before every scrape)."""
        with self.lock:
            overdue = self.overdue_by_committee()
            open_ = self.state.open_by_committee()
            for committee in self.state.committees:
                self.m.open.labels(committee=committee).set(open_.get(committee, 0))
                self.m.overdue.labels(committee=committee).set(overdue.get(committee, 0))

    def set_lag(self, group: str, lag: Mapping[str, int]) -> None:
        """The worker group's lag per topic; its internal topics are summed as ``other``."""
        summed: dict[str, int] = {}
        for topic, n in lag.items():
            name = topic if topic in KNOWN_TOPICS else OTHER_TOPIC
            summed[name] = summed.get(name, 0) + n
        with self.lock:
            s = self.state
            for topic in set(s.lag) - set(summed):
                self.m.lag.labels(group=group, topic=topic).set(0)
            for topic, n in summed.items():
                self.m.lag.labels(group=group, topic=topic).set(n)
            s.lag_group, s.lag = group, summed

    def risk_history(self, days: int) -> dict[str, Any]:
        """Each street's highest cell score at the end of each of the last ``days`` days."""
        from consumers.metrics.snapshot import render_risk_history

        with self.lock:
            return render_risk_history(self.state, self.vocab, self.today(), days)

    def snapshot(self) -> dict[str, Any]:
        """The dashboard's JSON: codes with display names, counts, no personal data."""
        with self.lock:
            return render(self.state, self.vocab, self.now(), self.tz)
