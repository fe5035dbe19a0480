"""Every metric family the monitoring sink exports, registered in an injected registry.

Names are prefixed ``fengqiao_``; label values are bounded (see ``vocabulary``). Known label
values are created at zero, so ``increase()`` and ``rate()`` see the first event too.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumers import labels
from consumers.metrics.topics import INTAKE_TOPICS, TOPICS
from schemas.events import CaseKind, Channel, DeadLetter

# Event time → routing: seconds for a live feed, up to days for a backlog or a replayed year.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
REASON_CLASSES: tuple[str, ...] = get_args(DeadLetter.model_fields["error_class"].annotation)


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
        self.linked = Counter(
            "fengqiao_reports_linked",
            "Reports that joined an open case of the same matter instead of opening one (so "
            "cases received minus these is the cases opened)",
            ["kind", "channel"],
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
        for kind in get_args(CaseKind):
            for channel in get_args(Channel):
                self.linked.labels(kind=kind, channel=channel)
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
            for reason_class in REASON_CLASSES:
                self.dead_letters.labels(topic=topic, reason_class=reason_class)
