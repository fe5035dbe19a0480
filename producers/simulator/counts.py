"""The ground truth of a generated year: counts taken at the source as each event gets its id,
and the manifest made of them (``producers.manifest``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, get_args

from producers.manifest import (
    Disputes,
    Incidents,
    Manifest,
    Period,
    Petitions,
    PlantedIncident,
    Tally,
    WageArrears,
)
from producers.simulator.calibration import GENERATOR_VERSION, REPORT_2022, Profile
from producers.simulator.planted import PlantedGroup
from producers.simulator.sampling import yuan
from schemas.events import INTAKE_KINDS, CaseKind

# SDK kind -> the case kind routing decisions carry (wage-arrears -> wage_arrears); a
# consultation opens no case.
CASE_KINDS = {
    kind: kind.replace("-", "_")
    for kind in INTAKE_KINDS
    if kind.replace("-", "_") in get_args(CaseKind)
}
# Every group-incident rule: the year plants wage_employer incidents and nothing else.
INCIDENT_RULES = (
    "wage_employer",
    "dispute_collective",
    "dispute_respondent",
    "petition_collective",
    "petition_matter",
)


@dataclass
class Counts:
    events: Counter[str] = field(default_factory=Counter)  # SDK kind -> events
    case_ids: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_street: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_category: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    by_month: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_hour: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    by_channel: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    dispute_amount: Decimal = Decimal(0)
    wage_amount: Decimal = Decimal(0)
    repeats: int = 0
    first: datetime | None = None
    last: datetime | None = None
    wage_times: dict[str, datetime] = field(default_factory=dict)

    def add(
        self, kind: str, event_id: str, when: datetime, channel: str, data: dict[str, Any]
    ) -> None:
        """Count one event; events come in event-time order."""
        self.events[kind] += 1
        if kind in CASE_KINDS:
            self.case_ids[CASE_KINDS[kind]].append(event_id)
        street = data.get("street")
        self.by_street[kind][street or "none"] += 1
        self.by_category[kind][data.get("category", "labor")] += 1
        self.by_month[kind][f"{when.month:02d}"] += 1
        self.by_hour[kind][when.hour] += 1
        self.by_channel[kind][channel] += 1
        if kind == "dispute" and "amount_yuan" in data:
            self.dispute_amount += Decimal(data["amount_yuan"])
        elif kind == "wage-arrears":
            self.wage_amount += Decimal(data["amount_yuan"])
            self.wage_times[event_id] = when
        elif kind == "petition" and data["repeat_of"]:
            self.repeats += 1
        self.first = self.first or when
        self.last = when


def _plain(c: dict[str, Counter[Any]]) -> dict[str, dict[str, int]]:
    return {k: {str(x): n for x, n in sorted(v.items())} for k, v in sorted(c.items())}


def _incident(g: PlantedGroup, times: dict[str, datetime]) -> PlantedIncident:
    claimed = [times[i] for i in g.case_ids]
    return PlantedIncident(
        tag=g.tag,
        rule_id=g.rule_id,
        employer=g.employer,
        employer_key=g.employer_key,
        credit_code=g.credit_code,
        street=g.street,
        claims=g.claims,
        workers=g.workers,
        amount_yuan=Decimal(g.amount_yuan),
        trigger=g.trigger,
        escalation=g.escalation,
        case_ids=tuple(g.case_ids),
        first=min(claimed),
        last=max(claimed),
    )


def manifest_of(
    p: Profile,
    seed: int,
    run: str,
    counts: Counts,
    planted: list[PlantedGroup],
    no_agreement: list[str],
) -> Manifest:
    case_ids = counts.case_ids
    expected_by_rule = dict.fromkeys(INCIDENT_RULES, 0)
    expected_by_rule["wage_employer"] = len(planted)
    cases = Tally(
        total=sum(len(v) for v in case_ids.values()),
        by_kind={k: len(v) for k, v in sorted(case_ids.items())},
    )
    disputes, petitions, wages = case_ids["dispute"], case_ids["petition"], case_ids["wage_arrears"]
    return Manifest(
        profile=p.name,
        generator_version=GENERATOR_VERSION,
        seed=seed,
        run=run,
        scale=p.scale,
        period=Period(start=counts.first, end=counts.last),
        events=Tally(
            total=sum(counts.events.values()), by_kind=dict(sorted(counts.events.items()))
        ),
        cases=cases,
        by_street=_plain(counts.by_street),
        by_category=_plain(counts.by_category),
        by_month=_plain(counts.by_month),
        by_hour=_plain(counts.by_hour),
        by_channel=_plain(counts.by_channel),
        disputes=Disputes(
            count=len(disputes),
            amount_yuan=Decimal(yuan(counts.dispute_amount)),
            no_agreement_case_ids=tuple(no_agreement),
            settled_pct=round(100 * (1 - len(no_agreement) / max(1, len(disputes))), 2),
        ),
        petitions=Petitions(count=len(petitions), repeats=counts.repeats),
        wage_arrears=WageArrears(
            claims=len(wages),
            background_claims=len(wages) - sum(g.claims for g in planted),
            amount_yuan=Decimal(yuan(counts.wage_amount)),
        ),
        incidents=Incidents(
            expected_by_rule=expected_by_rule,
            group_wage=len(planted),
            group_wage_workers=sum(g.workers for g in planted),
            planted=tuple(_incident(g, counts.wage_times) for g in planted),
        ),
        consultations=counts.events.get("consultation", 0),
        published_figures={k: v if isinstance(v, int) else str(v) for k, v in REPORT_2022.items()},
        not_modelled={
            "legal_aid_cases": "no event type carries legal aid; consultations in category "
            "legal_aid stand in for requests",
        },
        case_ids={k: tuple(v) for k, v in sorted(case_ids.items())},
    )
