"""Wiring helpers for incidents, risk and SLA that need no faust: the rule configurations built
from the worker's rule parameters, and which table keys a partition owns (for timer ticks,
which must only touch the rows of the partition they arrive on).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from streams.config import RuleParams
from streams.incidents import IncidentConfig, Rule
from streams.murmur2 import murmur2
from streams.risk import RiskConfig
from streams.sla import SlaConfig

TICK = b'{"tick":true}'


def escalation_targets(s: RuleParams, top_by_type: dict[str, Any] | None) -> tuple[str, str]:
    """(district center id, city id): settings first, then the routing catalogue."""

    def first(kind: str, fallback: str) -> str:
        found = (top_by_type or {}).get(kind) or ()
        return found[0].id if found else fallback

    return (
        s.district_center_committee or first("district_center", "district-center"),
        s.city_committee or first("city", "city"),
    )


def incident_config(s: RuleParams, top_by_type: dict[str, Any] | None = None) -> IncidentConfig:
    days = lambda n: timedelta(days=n)  # noqa: E731
    district, city = escalation_targets(s, top_by_type)
    rules = (
        Rule(
            "wage_employer",
            days(s.wage_employer_window_days),
            min_cases=s.wage_employer_min_claims,
            min_people=s.wage_employer_min_workers,
        ),
        Rule("dispute_collective", min_cases=1),
        Rule(
            "dispute_respondent",
            days(s.dispute_respondent_window_days),
            min_cases=s.dispute_respondent_min_cases,
        ),
        Rule("petition_collective", min_cases=1),
        Rule(
            "petition_matter",
            days(s.petition_matter_window_days),
            min_cases=s.petition_matter_min_cases,
        ),
    )
    return IncidentConfig(
        rules={r.rule_id: r for r in rules},
        dispute_collective_min_parties=s.dispute_collective_min_parties,
        petition_collective_min_petitioners=s.petition_collective_min_petitioners,
        grace=timedelta(hours=s.incident_grace_hours),
        retention=days(s.incident_retention_days),
        city_people=s.city_escalation_people,
        city_amount_yuan=s.city_escalation_amount_yuan,
        district_committee=district,
        city_committee=city,
    )


def risk_config(s: RuleParams) -> RiskConfig:
    return RiskConfig(half_life=timedelta(days=s.risk_half_life_days), thresholds=s.risk_thresholds)


def sla_config(s: RuleParams, top_by_type: dict[str, Any] | None = None) -> SlaConfig:
    def pair(p: tuple[float, float]) -> tuple[timedelta, timedelta]:
        return timedelta(days=p[0]), timedelta(days=p[1])

    district, city = escalation_targets(s, top_by_type)
    return SlaConfig(
        periods={
            "dispute": pair(s.sla_dispute_days),
            "petition": pair(s.sla_petition_days),
            "wage_arrears": pair(s.sla_wage_arrears_days),
        },
        warn_fraction=s.sla_warn_fraction,
        street_committee=s.street_committee_pattern,
        district_committee=district,
        city_committee=city,
    )


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner puts ``key`` in.

    Cached: committee, street / category and incident keys repeat on every batch, and
    murmur2 is pure Python. Case ids (the SLA items' keys) never repeat and only pass through,
    so the cache is kept small: at 2**20 entries they filled it to 265 MB per worker.
    """
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def owned(keys: Iterable[str], partition: int, partitions: int) -> list[str]:
    return [k for k in keys if partition_of(k, partitions) == partition]
