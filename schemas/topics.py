"""The topic catalogue: every topic Fengqiao reads or writes, its key and its cleanup policy."""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    description: str
    messages: tuple[str, ...]
    cleanup_policy: str = "delete"
    retention_ms: int = 30 * DAY_MS
    partitions: int | None = None  # None: the settings' default
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        cfg = {"cleanup.policy": self.cleanup_policy, **self.extra_config}
        if self.cleanup_policy == "delete":
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "intake.disputes",
        "street",
        "Disputes reported by integrations",
        ("dispute.reported.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "intake.petitions",
        "street",
        "Petitions filed",
        ("petition.filed.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "intake.wage-arrears",
        "employer (credit code, else name)",
        "Wage-arrears reports",
        ("wage_arrears.reported.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "intake.consultations",
        "street",
        "Consultations that open no case",
        ("consultation.recorded.v1",),
        retention_ms=90 * DAY_MS,
    ),
    TopicSpec(
        "intake.deadletter",
        "source topic",
        "Intake messages that were rejected",
        ("deadletter.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "cases.routed",
        "committee_id",
        "Routing decisions, one per case",
        ("case.routed.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "cases.lifecycle",
        "case_id",
        "Accepted, assigned, transferred, concluded, closed",
        (
            "case.accepted.v1",
            "case.assigned.v1",
            "case.transferred.v1",
            "case.concluded.v1",
            "case.closed.v1",
        ),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "incidents",
        "incident_id",
        "Group incidents detected and updated",
        ("incident.detected.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "escalations",
        "escalation_id",
        "Escalations raised",
        ("escalation.raised.v1",),
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        "risk.levels",
        "street/category",
        "Latest risk level per street and category",
        ("risk.level_changed.v1",),
        cleanup_policy="compact",
    ),
    TopicSpec(
        "sla.alerts",
        "case_id",
        "SLA warnings and breaches",
        ("sla.warning.v1", "sla.breached.v1"),
        retention_ms=90 * DAY_MS,
    ),
)

TOPIC_NAMES = tuple(t.name for t in TOPICS)


def spec(name: str) -> TopicSpec:
    for t in TOPICS:
        if t.name == name:
            return t
    raise KeyError(name)
