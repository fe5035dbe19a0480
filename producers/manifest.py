"""The ground-truth manifest of a simulated year: what was planted, counted at the source.

The simulator writes it, ``fengqiao simulate`` adds how publishing went, and the report
(``producers.groundtruth``) holds the pipeline's counts against it. Frozen pydantic models;
the JSON file keeps the format it has always had (``to_json`` / ``from_json``), so a manifest
written by an older build still reads, and the other way round.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    # Unknown keys are ignored, not refused: a newer build may add a section an older reads.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Period(_Frozen):
    start: AwareDatetime | None
    end: AwareDatetime | None


class Tally(_Frozen):
    total: int = Field(ge=0)
    by_kind: dict[str, int]


class Disputes(_Frozen):
    count: int = Field(ge=0)
    amount_yuan: Decimal
    no_agreement_case_ids: tuple[str, ...]
    settled_pct: float


class Petitions(_Frozen):
    count: int = Field(ge=0)
    repeats: int = Field(ge=0)


class WageArrears(_Frozen):
    claims: int = Field(ge=0)
    background_claims: int = Field(ge=0)
    amount_yuan: Decimal


class PlantedIncident(_Frozen):
    """One planted group wage incident: the claims that must form exactly one incident."""

    tag: str
    rule_id: str
    employer: str
    employer_key: str
    credit_code: str | None
    street: str
    claims: int = Field(ge=1)
    workers: int = Field(ge=1)
    amount_yuan: Decimal
    trigger: Literal["workers", "claims"]
    escalation: Literal["district", "city"]
    case_ids: tuple[str, ...]
    first: AwareDatetime
    last: AwareDatetime


class Incidents(_Frozen):
    expected_by_rule: dict[str, int]
    group_wage: int = Field(ge=0)
    group_wage_workers: int = Field(ge=0)
    planted: tuple[PlantedIncident, ...]


class RepeatTruth(_Frozen):
    """A report of a case already reported, sent again through another channel under a new id.
    ``expect``: join the case (``link``), or open one of its own because nothing identifies
    the person (``no_identity``) or the case is older than the horizon (``past_horizon``)."""

    report_id: str
    case_id: str
    expect: Literal["link", "no_identity", "past_horizon"]
    written: str


class Repeats(_Frozen):
    share: float = Field(ge=0, le=1)
    planted: tuple[RepeatTruth, ...]


class MediatorsRun(_Frozen):
    """How the simulated mediators did, when ``fengqiao simulate --mediators`` ran them."""

    url: str
    accepted: int = 0
    concluded: dict[str, int] = Field(default_factory=dict)
    conflicts: int = 0
    errors: int = 0
    committees: int = 0
    finished: bool = False
    wall_seconds: float = 0.0


class Publishing(_Frozen):
    """Added by ``fengqiao simulate`` once the year is published."""

    sent: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    mediators: MediatorsRun | None = None


class Manifest(_Frozen):
    profile: str
    generator_version: int
    seed: int
    run: str
    scale: float
    period: Period
    events: Tally
    cases: Tally
    by_street: dict[str, dict[str, int]]
    by_category: dict[str, dict[str, int]]
    by_month: dict[str, dict[str, int]]
    by_hour: dict[str, dict[str, int]]
    by_channel: dict[str, dict[str, int]]
    disputes: Disputes
    petitions: Petitions
    wage_arrears: WageArrears
    incidents: Incidents
    consultations: int = Field(ge=0)
    published_figures: dict[str, int | str]
    not_modelled: dict[str, str]
    case_ids: dict[str, tuple[str, ...]]
    publishing: Publishing | None = None
    repeats: Repeats | None = None  # only when the year was simulated with repeat reports

    @property
    def mediators_ran(self) -> bool:
        return self.publishing is not None and self.publishing.mediators is not None

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object; sections not filled in yet are left out, as they always were."""
        data = self.model_dump(mode="json")
        if self.repeats is None:
            del data["repeats"]
        if self.publishing is None:
            del data["publishing"]
        elif self.publishing.mediators is None:
            del data["publishing"]["mediators"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        return cls.model_validate_json(text)
