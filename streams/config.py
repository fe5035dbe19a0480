"""The worker's own configuration: what ``create_app`` and the agents read, built from the
settings by the composition root (``fengqiao.workerwiring``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.linking import LinkConfig


@dataclass(frozen=True)
class RuleParams:
    """The parameters of the incident, risk and SLA rules (``streams.watch`` builds the rule
    configurations from them); named as the settings are."""

    incident_grace_hours: float = 24.0
    incident_retention_days: float = 90.0
    wage_employer_window_days: float = 7.0
    wage_employer_min_claims: int = 3
    wage_employer_min_workers: int = 10
    dispute_collective_min_parties: int = 5
    dispute_respondent_window_days: float = 7.0
    dispute_respondent_min_cases: int = 3
    petition_collective_min_petitioners: int = 5
    petition_matter_window_days: float = 30.0
    petition_matter_min_cases: int = 3
    city_escalation_people: int = 50
    city_escalation_amount_yuan: Decimal = Decimal(1_000_000)
    district_center_committee: str | None = None
    city_committee: str | None = None
    street_committee_pattern: str = "{street}-street"
    risk_half_life_days: float = 7.0
    risk_thresholds: tuple[float, float, float, float] = (5.0, 10.0, 20.0, 40.0)
    sla_dispute_days: tuple[float, float] = (1.0, 30.0)
    sla_petition_days: tuple[float, float] = (15.0, 60.0)
    sla_wage_arrears_days: tuple[float, float] = (1.0, 15.0)
    sla_warn_fraction: float = 0.8


@dataclass(frozen=True)
class WorkerConfig:
    app_id: str = "fengqiao"
    bootstrap: tuple[str, ...] = ("127.0.0.1:9092",)
    topic_prefix: str = ""
    topic_partitions: int = 4
    topic_replication: int = 1
    data_dir: Path = Path("worker")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    standby_replicas: int = 0
    fetch_min_bytes: int = 65_536
    fetch_max_wait_ms: int = 20
    delivery_timeout_s: float = 120.0
    intake_batch_max: int = 500
    dedupe_horizon_days: float = 7.0
    max_future_skew_minutes: float = 10.0
    watch_tick_seconds: float = 10.0
    clock: str = "wall"
    ruleset_path: Path | None = None
    catalogue_path: Path | None = None
    # static group membership: a restarted worker with the same id takes its partitions
    # back at once; None joins as a new member each start
    instance_id: str | None = None
    session_timeout_s: float = 15.0
    allow_untested_runtime: bool = False
    rules: RuleParams = RuleParams()
    linking: LinkConfig = LinkConfig()
    # faust's SASL/TLS credentials (None for PLAINTEXT); kept out of repr: it holds a password
    broker_credentials: Any = field(default=None, repr=False, compare=False)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
