"""The monitoring sink: intake and derived events in, Prometheus metrics and dashboard state out.

``MetricsSink`` is plain code over an injected ``CollectorRegistry`` (a fresh one per test);
``run_consumer`` is the thin kafka-python loop that feeds it and measures the worker's consumer
lag. Labels are bounded: codes from the contracts, each dimension capped, never a case id,
a name or free text. The worker is at-least-once, so every count is idempotent on the event's
id (or on the incident id, whose later updates only add the difference).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter as TallyCounter
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from consumers import labels
from schemas.envelope import Envelope
from schemas.events import (
    INTAKE_TYPES,
    CaseAccepted,
    CaseClosed,
    CaseConcluded,
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

INTAKE_TOPICS = (
    "intake.disputes",
    "intake.petitions",
    "intake.wage-arrears",
    "intake.consultations",
)
DERIVED_TOPICS = (
    "intake.deadletter",
    "cases.routed",
    "cases.lifecycle",
    "incidents",
    "escalations",
    "risk.levels",
    "sla.alerts",
)
TOPICS = INTAKE_TOPICS + DERIVED_TOPICS

LEVEL_VALUE = {level: i for i, level in enumerate(labels.LEVEL_ORDER)}
OTHER = "other"

# Event time → routing: seconds for a live feed, up to days for a backlog or a replayed year.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)

Clock = Callable[[], datetime]


class LabelCap:
    """Lets the first ``limit`` distinct values of one label through, then says ``other``.

    Values on ``always`` (the street catalogue, say) never count against the cap. Codes come
    from validated contracts, so this only guards against a flood of new codes.
    """

    def __init__(self, limit: int, always: Iterable[str] = ()) -> None:
        self.limit = limit
        self.always = frozenset(always)
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if not value:
            return "unknown"
        if value in self.always or value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return OTHER


class ExpiringIds:
    """Ids seen within ``horizon`` of event time, as the worker dedupes; older ids are forgotten."""

    def __init__(self, horizon: timedelta) -> None:
        self.horizon = horizon.total_seconds()
        self.ids: dict[str, float] = {}
        self.newest = 0.0
        self._since_expiry = 0

    def seen_before(self, key: str, ts: float) -> bool:
        """True when ``key`` was seen within the horizon; otherwise remember it and say False."""
        first = self.ids.get(key)
        if first is not None and abs(ts - first) <= self.horizon:
            return True
        self.ids[key] = ts
        self.newest = max(self.newest, ts)
        self._since_expiry += 1
        if self._since_expiry >= 10_000:
            self.expire()
        return False

    def expire(self) -> None:
        cutoff = self.newest - self.horizon
        for key in [k for k, ts in self.ids.items() if ts < cutoff]:
            del self.ids[key]
        self._since_expiry = 0


@dataclass
class OpenCase:
    committee: str
    deadline: datetime
    breached: bool = False


class Metrics:
    """Every metric the sink exports, registered in the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.received = Counter(
            "fengqiao_cases_received",
            "Distinct valid intake events that open a case",
            ["kind", "category", "street", "channel"],
            registry=r,
        )
        self.amount_reported = Counter(
            "fengqiao_amount_reported_yuan",
            "Yuan at stake in the cases received",
            ["kind"],
            registry=r,
        )
        self.consultations = Counter(
            "fengqiao_consultations",
            "Distinct consultations recorded",
            ["category", "channel"],
            registry=r,
        )
        self.duplicates = Counter(
            "fengqiao_intake_duplicates",
            "Intake events seen again with an id already seen (within the dedupe horizon)",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            "fengqiao_dead_letters",
            "Intake messages rejected to the dead-letter topic",
            ["topic", "reason_class"],
            registry=r,
        )
        self.routed = Counter(
            "fengqiao_cases_routed",
            "Routing decisions",
            ["committee", "tier"],
            registry=r,
        )
        self.latency = Histogram(
            "fengqiao_routing_latency_seconds",
            "From the event time of a case to the moment its routing decision was written",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.accepted = Counter(
            "fengqiao_cases_accepted", "Cases accepted by a committee", registry=r
        )
        self.transferred = Counter(
            "fengqiao_cases_transferred", "Cases transferred between committees", registry=r
        )
        self.concluded = Counter(
            "fengqiao_cases_concluded", "Mediations concluded", ["outcome"], registry=r
        )
        self.agreed_amount = Counter(
            "fengqiao_agreed_amount_yuan", "Yuan agreed in concluded mediations", registry=r
        )
        self.open = Gauge(
            "fengqiao_cases_open", "Cases routed and not yet concluded", ["committee"], registry=r
        )
        self.overdue = Gauge(
            "fengqiao_cases_overdue",
            "Open cases past their deadline or with a breached SLA clock",
            ["committee"],
            registry=r,
        )
        self.incidents = Counter(
            "fengqiao_incidents", "Distinct group incidents detected", ["rule"], registry=r
        )
        self.incident_people = Counter(
            "fengqiao_incident_people",
            "People involved in group incidents (latest count of each incident)",
            ["rule"],
            registry=r,
        )
        self.escalations = Counter(
            "fengqiao_escalations", "Escalations raised", ["level"], registry=r
        )
        self.risk_score = Gauge(
            "fengqiao_risk_score",
            "Stability-risk score per street and category (at its last level change)",
            ["street", "category"],
            registry=r,
        )
        self.risk_level = Gauge(
            "fengqiao_risk_level",
            "Stability-risk level: 0 green, 1 blue, 2 yellow, 3 orange, 4 red",
            ["street", "category"],
            registry=r,
        )
        self.risk_cells = Gauge(
            "fengqiao_risk_cells",
            "Street × category cells at each risk level",
            ["level"],
            registry=r,
        )
        self.sla_warnings = Counter(
            "fengqiao_sla_warnings", "SLA warnings (80 % of a period)", ["clock"], registry=r
        )
        self.sla_breaches = Counter(
            "fengqiao_sla_breaches", "SLA clocks breached", ["clock"], registry=r
        )
        self.lag = Gauge(
            "fengqiao_consumer_lag_messages",
            "Messages the stream worker's consumer group has not committed yet",
            ["group", "topic"],
            registry=r,
        )
        self.lag_errors = Counter(
            "fengqiao_consumer_lag_errors",
            "Failed attempts to measure the worker's consumer lag",
            registry=r,
        )
        self.sink_events = Counter(
            "fengqiao_sink_events", "Messages read by the metrics sink", ["topic"], registry=r
        )
        self.sink_unreadable = Counter(
            "fengqiao_sink_unreadable",
            "Messages the metrics sink could not read as the topic's contract",
            ["topic"],
            registry=r,
        )
        self.sink_event_time = Gauge(
            "fengqiao_sink_event_time_seconds",
            "Newest event time the sink has seen (unix seconds)",
            registry=r,
        )
        # Known label values start at zero, so increase() and rate() see the first event too.
        for level in labels.LEVEL_ORDER:
            self.risk_cells.labels(level=level).set(0)
        for rule in labels.INCIDENT_RULES:
            self.incidents.labels(rule=rule)
            self.incident_people.labels(rule=rule)
        for esc_level in labels.ESCALATION_LEVELS:
            self.escalations.labels(level=esc_level)
        for outcome in labels.OUTCOMES:
            self.concluded.labels(outcome=outcome)
        for clock in ("accept", "conclude"):
            self.sla_warnings.labels(clock=clock)
            self.sla_breaches.labels(clock=clock)
        for topic in TOPICS:
            self.sink_events.labels(topic=topic)
            self.sink_unreadable.labels(topic=topic)
        for topic in INTAKE_TOPICS:
            self.duplicates.labels(topic=topic)
            for reason_class in ("decode", "envelope", "type", "payload", "time", "other"):
                self.dead_letters.labels(topic=topic, reason_class=reason_class)


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


class MetricsSink:
    """Applies events to the metrics and keeps the dashboard's state. No Kafka in here.

    ``clock`` is "now" for overdue cases and "today": the wall clock in production, or, when
    None, the newest event time seen (a replayed or simulated year).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        clock: Clock | None = None,
        dedupe_horizon: timedelta = timedelta(days=7),
        utc_offset: timedelta = timedelta(hours=8),
        feed_size: int = 50,
        street_names: Mapping[str, str] | None = None,
        committee_names: Mapping[str, str] | None = None,
    ) -> None:
        self.m = Metrics(registry)
        # display names: the district's catalogue when given, else the Longwan sample
        self.street_names = dict(street_names or labels.STREETS)
        self.committee_names = dict(committee_names or {})
        self.clock = clock
        self.tz = timezone(utc_offset)
        self.lock = threading.RLock()
        self.intake_ids = ExpiringIds(dedupe_horizon)
        self.derived_ids = ExpiringIds(dedupe_horizon)
        self.closed_ids = ExpiringIds(dedupe_horizon)
        self.street = LabelCap(40, self.street_names)
        self.category = LabelCap(40, labels.CATEGORIES)
        self.committee = LabelCap(300)
        self.rule = LabelCap(30, labels.INCIDENT_RULES)
        self.topic = LabelCap(20, TOPICS)
        self.open_cases: dict[str, OpenCase] = {}
        self.committees: set[str] = set()
        self.incident_people: dict[str, int] = {}
        self.incident_rule: dict[str, str] = {}
        self.incident_street: dict[str, str] = {}
        self.risk: dict[tuple[str, str], tuple[str, float]] = {}
        self.feed: deque[dict[str, Any]] = deque(maxlen=feed_size)
        self.days: dict[date, TallyCounter[str]] = {}
        self.newest_event: datetime | None = None
        self.lag: dict[str, int] = {}
        self.lag_group: str | None = None

    # --- time --------------------------------------------------------------------------

    def now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        return self.newest_event or datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def _tally(self, when: datetime, key: str, n: int = 1) -> None:
        day = when.astimezone(self.tz).date()
        self.days.setdefault(day, TallyCounter())[key] += n
        if len(self.days) > 3:
            for old in sorted(self.days)[:-3]:
                del self.days[old]

    def _saw_time(self, when: datetime) -> None:
        if self.newest_event is None or when > self.newest_event:
            self.newest_event = when
            self.m.sink_event_time.set(when.timestamp())

    # --- events ------------------------------------------------------------------------

    def handle(self, topic: str, value: bytes | None, timestamp_ms: int | None = None) -> None:
        """Apply one message read from ``topic`` (its logical name, without the prefix)."""
        with self.lock:
            self.m.sink_events.labels(topic=self.topic(topic)).inc()
            try:
                self._handle(topic, value, timestamp_ms)
            except (ValueError, ValidationError, EventRejected, KeyError, TypeError) as err:
                # Bad derived events are counted, not fatal: the sink must keep up.
                self.m.sink_unreadable.labels(topic=self.topic(topic)).inc()
                log.warning("unreadable message on %s: %s", topic, type(err).__name__)

    def _envelope(self, value: bytes | None) -> Envelope:
        if not value:
            raise ValueError("empty message")
        return Envelope.model_validate(json.loads(value))

    def _handle(self, topic: str, value: bytes | None, timestamp_ms: int | None) -> None:
        if topic in INTAKE_TOPICS:
            self._intake(topic, value)
            return
        if topic == "risk.levels" and not value:
            return  # a compaction tombstone
        env = self._envelope(value)
        self._saw_time(env.time)
        if topic == "incidents":
            self._incident(env, IncidentDetected.model_validate(env.data))
            return
        if topic == "risk.levels":
            # ``dump()`` drops a None previous_level (the first change of a cell), but the model
            # has no default for it: read a missing one as None.
            self._risk(RiskLevelChanged.model_validate({"previous_level": None, **env.data}))
            return
        if self.derived_ids.seen_before(f"{topic}|{env.id}", env.time.timestamp()):
            return
        if topic == "intake.deadletter":
            dl = DeadLetter.model_validate(env.data)
            source = dl.source_topic
            for logical in INTAKE_TOPICS:
                if source.endswith(logical):
                    source = logical
            self.m.dead_letters.labels(topic=self.topic(source), reason_class=dl.error_class).inc()
            self._tally(env.time, "dead_letters")
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
            self.m.duplicates.labels(topic=self.topic(topic)).inc()
            self._tally(env.time, "duplicates")
            return
        if isinstance(p, ConsultationRecorded):
            self.m.consultations.labels(category=self.category(p.category), channel=p.channel).inc()
            self._tally(env.time, "consultation")
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
        category = "labor" if kind == "wage_arrears" else str(getattr(p, "category", OTHER))
        self.m.received.labels(
            kind=kind,
            category=self.category(category),
            street=self.street(p.street),
            channel=p.channel,
        ).inc()
        if amount is not None:
            self.m.amount_reported.labels(kind=kind).inc(_amount(amount))
        self._tally(env.time, kind)

    def _routed(self, env: Envelope, r: CaseRouted, timestamp_ms: int | None) -> None:
        committee = self.committee(r.committee_id)
        if r.committee_name and committee == r.committee_id:
            self.committee_names.setdefault(committee, r.committee_name)
        self.m.routed.labels(committee=committee, tier=r.tier).inc()
        if timestamp_ms is not None:
            written = timestamp_ms / 1000.0
            self.m.latency.labels(kind=r.kind).observe(max(written - env.time.timestamp(), 0.0))
        self._tally(env.time, "routed")
        if self.closed_ids.ids.get(r.case_id) is None:
            self.open_cases[r.case_id] = OpenCase(committee, r.deadline)
        self.committees.add(committee)

    def _lifecycle(self, env: Envelope) -> None:
        if env.type == "case.accepted.v1":
            CaseAccepted.model_validate(env.data)
            self.m.accepted.inc()
        elif env.type == "case.assigned.v1":
            return  # who works a case is not a metric
        elif env.type == "case.transferred.v1":
            t = CaseTransferred.model_validate(env.data)
            self.m.transferred.inc()
            case = self.open_cases.get(t.case_id)
            if case is not None:
                case.committee = self.committee(t.to_committee_id)
                self.committees.add(case.committee)
        elif env.type in ("case.concluded.v1", "case.closed.v1"):
            model = CaseConcluded if env.type == "case.concluded.v1" else CaseClosed
            ended = model.model_validate(env.data)
            if isinstance(ended, CaseConcluded):
                self.m.concluded.labels(outcome=ended.outcome).inc()
                self.m.agreed_amount.inc(_amount(ended.agreed_amount_yuan))
                self._tally(env.time, "concluded")
            self.open_cases.pop(ended.case_id, None)
            self.closed_ids.seen_before(ended.case_id, env.time.timestamp())
        else:
            raise ValueError("unknown lifecycle event type")

    def _incident(self, env: Envelope, inc: IncidentDetected) -> None:
        rule = self.rule(inc.rule_id)
        before = self.incident_people.get(inc.incident_id)
        if before is None:
            self.m.incidents.labels(rule=rule).inc()
            self._tally(env.time, "incidents")
            before = 0
        if inc.people > before:
            self.m.incident_people.labels(rule=rule).inc(inc.people - before)
            self.incident_people[inc.incident_id] = inc.people
        else:
            self.incident_people.setdefault(inc.incident_id, before)
        self.incident_rule[inc.incident_id] = rule
        # ``street`` is a declared optional field since issue 5 (an extra field before).
        street = self._street_display(inc.street or (inc.model_extra or {}).get("street"))
        street = street or self.incident_street.get(inc.incident_id, "")
        self.incident_street[inc.incident_id] = street
        # The feed names the rule, never the key (it may be an employer's or a person's name).
        entry = {
            "ref": _ref("incident", inc.incident_id),
            "type": "incident",
            "time": env.time.isoformat(),
            "rule": rule,
            "label": labels.INCIDENT_RULES.get(rule, rule),
            "street": street,
            "people": self.incident_people[inc.incident_id],
            "cases": len(inc.case_ids),
            "amount_yuan": _amount(inc.amount_yuan),
        }
        self._feed(entry)

    def _escalation(self, env: Envelope, esc: EscalationRaised) -> None:
        self.m.escalations.labels(level=esc.level).inc()
        self._tally(env.time, "escalations")
        rule = self.incident_rule.get(esc.incident_id or "")
        if rule is not None:
            cause = labels.INCIDENT_RULES.get(rule, rule)
        elif esc.case_id is not None:
            cause = "超时未办结"
        else:
            cause = ""
        self._feed(
            {
                "ref": _ref("escalation", esc.escalation_id),
                "type": "escalation",
                "time": env.time.isoformat(),
                "level": esc.level,
                "label": labels.ESCALATION_LEVELS.get(esc.level, esc.level),
                "to": self.committee_name(self.committee(esc.to_committee_id)),
                "cause": cause,
            }
        )

    def _feed(self, entry: dict[str, Any]) -> None:
        for i, old in enumerate(self.feed):
            if old["ref"] == entry["ref"]:
                del self.feed[i]
                break
        self.feed.appendleft(entry)

    def _risk(self, r: RiskLevelChanged) -> None:
        street, category = self.street(r.street), self.category(r.category)
        key = (street, category)
        previous = self.risk.get(key)
        if previous is not None:
            self.m.risk_cells.labels(level=previous[0]).dec()
        self.risk[key] = (r.level, r.score)
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
            self._tally(env.time, "sla_breaches")
            case = self.open_cases.get(b.case_id)
            if case is not None:
                case.breached = True
        else:
            raise ValueError("unknown SLA event type")

    # --- derived state -----------------------------------------------------------------

    def _street_display(self, code: Any) -> str:
        """A street's display name; only catalogue codes are shown, never other text."""
        return self.street_names.get(code, "") if isinstance(code, str) else ""

    def committee_name(self, committee_id: str) -> str:
        return self.committee_names.get(committee_id) or labels.committee_name(committee_id)

    def overdue_by_committee(self, now: datetime | None = None) -> dict[str, int]:
        now = now or self.now()
        out: TallyCounter[str] = TallyCounter()
        for case in self.open_cases.values():
            if case.breached or case.deadline < now:
                out[case.committee] += 1
        return dict(out)

    def refresh(self) -> None:
        """Recompute the open/overdue gauges (cheap; called before every scrape)."""
        with self.lock:
            overdue = self.overdue_by_committee()
            open_: TallyCounter[str] = TallyCounter(c.committee for c in self.open_cases.values())
            for committee in self.committees:
                self.m.open.labels(committee=committee).set(open_.get(committee, 0))
                self.m.overdue.labels(committee=committee).set(overdue.get(committee, 0))

    def set_lag(self, group: str, lag: Mapping[str, int]) -> None:
        with self.lock:
            self.lag_group = group
            for topic in set(self.lag) - set(lag):
                self.m.lag.labels(group=group, topic=topic).set(0)
            for topic, n in lag.items():
                self.m.lag.labels(group=group, topic=self.topic(topic)).set(n)
            self.lag = dict(lag)

    def snapshot(self) -> dict[str, Any]:
        """The dashboard's JSON: codes with display names, counts, no personal data."""
        with self.lock:
            today = self.today()
            overdue = self.overdue_by_committee()
            open_ = TallyCounter(c.committee for c in self.open_cases.values())
            seen_streets = {s for s, _ in self.risk}
            seen_cats = {c for _, c in self.risk}
            streets = list(self.street_names) + sorted(seen_streets - set(self.street_names))
            cats = [c for c in labels.CATEGORIES if c != "legal_aid"]
            cats += sorted(seen_cats - set(cats))
            cells = {
                f"{s}/{c}": {"level": level, "score": round(score, 2)}
                for (s, c), (level, score) in self.risk.items()
            }
            committees = sorted(
                self.committees, key=lambda c: (-overdue.get(c, 0), -open_.get(c, 0), c)
            )
            return {
                "now": self.now().isoformat(),
                "today": today.isoformat(),
                "utc_offset_minutes": int((self.tz.utcoffset(None) or timedelta()).total_seconds())
                // 60,
                "streets": [{"code": s, "name": self.street_names.get(s, s)} for s in streets],
                "categories": [{"code": c, "name": labels.CATEGORIES.get(c, c)} for c in cats],
                "levels": [{"code": lv, "name": n} for lv, n in labels.LEVELS.items()],
                "risk": cells,
                "feed": list(self.feed),
                "today_counts": dict(self.days.get(today, TallyCounter())),
                "committees": [
                    {
                        "code": c,
                        "name": self.committee_name(c),
                        "open": open_.get(c, 0),
                        "overdue": overdue.get(c, 0),
                    }
                    for c in committees
                ],
                "lag": {"group": self.lag_group, "topics": dict(self.lag)},
            }


# --- consumer lag ------------------------------------------------------------------------


def lag_by_topic(
    committed: Mapping[tuple[str, int], int],
    ends: Mapping[tuple[str, int], int],
    prefix: str = "",
) -> dict[str, int]:
    """Σ (end offset − committed offset) per topic, prefix stripped; never negative."""
    out: dict[str, int] = {}
    for (topic, partition), offset in committed.items():
        end = ends.get((topic, partition))
        if end is None:
            continue
        name = topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
        out[name] = out.get(name, 0) + max(end - offset, 0)
    return out


class LagProbe:
    """Committed offsets of a consumer group (kafka-python admin) against the end offsets."""

    def __init__(self, settings: Any, group: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.group = group
        self.prefix = settings.topic_prefix
        common = {
            "bootstrap_servers": settings.resolved_bootstrap().split(","),
            **settings.kafka_client_config(),
        }
        self.admin = KafkaAdminClient(client_id="fengqiao-metrics-lag", **common)
        self.consumer = KafkaConsumer(
            group_id=None, enable_auto_commit=False, client_id="fengqiao-metrics-lag", **common
        )

    def committed(self) -> dict[tuple[str, int], int]:
        admin: Any = self.admin
        if hasattr(admin, "list_consumer_group_offsets"):  # kafka-python 2.x
            raw = admin.list_consumer_group_offsets(self.group)
        else:  # kafka-python 3.x
            raw = admin.list_group_offsets({self.group: None}).get(self.group, {})
        return {(tp.topic, tp.partition): om.offset for tp, om in raw.items() if om.offset >= 0}

    def measure(self) -> dict[str, int]:
        from kafka import TopicPartition

        committed = self.committed()
        if not committed:
            return {}
        tps = [TopicPartition(t, p) for t, p in committed]
        ends = {(tp.topic, tp.partition): off for tp, off in self.consumer.end_offsets(tps).items()}
        return lag_by_topic(committed, ends, self.prefix)

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def run_consumer(
    settings: Any,
    sink: MetricsSink,
    stop: threading.Event,
    *,
    ready: threading.Event | None = None,
) -> None:
    """Read every monitored topic into ``sink`` until ``stop`` is set; measure lag meanwhile.

    No consumer group: each sink process rebuilds its state from the topics (or starts at the
    end, if ``metrics_from_beginning`` is off), so several dashboards never share offsets.
    """
    from kafka import KafkaConsumer

    prefix = settings.topic_prefix
    consumer = KafkaConsumer(
        *[settings.topic(t) for t in TOPICS],
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if settings.metrics_from_beginning else "latest",
        client_id="fengqiao-metrics",
        **settings.kafka_client_config(),
    )
    group = settings.metrics_worker_group or settings.app_id
    probe: LagProbe | None = None
    next_lag = 0.0
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=200, max_records=2000)
            for tp, records in batches.items():
                topic = tp.topic[len(prefix) :] if prefix else tp.topic
                for rec in records:
                    sink.handle(topic, rec.value, rec.timestamp)
            if ready is not None and not ready.is_set() and consumer.assignment():
                ready.set()
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + settings.metrics_lag_interval_s
                try:
                    probe = probe or LagProbe(settings, group)
                    sink.set_lag(group, probe.measure())
                except Exception as err:  # noqa: BLE001 - lag is best effort, counted
                    sink.m.lag_errors.inc()
                    log.warning("consumer lag not measured: %s", err)
    finally:
        consumer.close()
        if probe is not None:
            probe.close()
