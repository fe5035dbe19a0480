"""The topics the monitoring sink reads, by logical name (without the deployment's prefix)."""

from __future__ import annotations

from schemas.events import INTAKE_KINDS
from schemas.topics import TOPICS as PLATFORM_TOPICS

INTAKE_TOPICS: tuple[str, ...] = tuple(topic for _type, topic in INTAKE_KINDS.values())
DERIVED_TOPICS: tuple[str, ...] = (
    "intake.deadletter",
    "cases.routed",
    "cases.lifecycle",
    "incidents",
    "escalations",
    "risk.levels",
    "sla.alerts",
)
TOPICS: tuple[str, ...] = INTAKE_TOPICS + DERIVED_TOPICS
# Every topic the platform declares; the worker's internal topics (changelogs, repartitions)
# are summed as ``other`` in the lag gauge.
KNOWN_TOPICS: frozenset[str] = frozenset(spec.name for spec in PLATFORM_TOPICS)
OTHER_TOPIC = "other"
