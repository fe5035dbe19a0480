"""The 14 group wage incidents the report counts, planted: claims against one employer on one
working day, each group exactly what the ``wage_employer`` rule must find once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from producers.simulator.calibration import CST, HOLIDAY, STREET_WEIGHTS, Profile
from producers.simulator.draft import Draft
from producers.simulator.names import WORDS, Names
from producers.simulator.sampling import pick, split, yuan
from schemas.reference.keys import org_key


@dataclass
class PlantedGroup:
    """A planted incident as generated; the year fills in its case ids once ids are assigned."""

    tag: str
    employer: str
    employer_key: str
    credit_code: str | None
    street: str
    claims: int
    workers: int
    amount_yuan: str
    trigger: Literal["workers", "claims"]  # what fires the rule: 10 workers, or 3 claims
    escalation: Literal["district", "city"]  # the level the incident must reach
    rule_id: str = "wage_employer"
    case_ids: list[str] = field(default_factory=list)


def incident_day(rng: random.Random, year: int, month: int, used: set[date]) -> date:
    """A working day of the month, before the Spring Festival in January, not used yet."""
    while True:
        d = date(year, month, rng.randint(3, 28))
        if d.weekday() < 5 and d not in used and not (HOLIDAY[0] <= d <= HOLIDAY[1]):
            used.add(d)
            return d


def planted_incidents(
    rng: random.Random, p: Profile, names: Names
) -> tuple[list[Draft], list[PlantedGroup]]:
    drafts: list[Draft] = []
    planted: list[PlantedGroup] = []
    used: set[date] = set()
    for i, (workers, month) in enumerate(
        zip(p.group_incident_workers, p.group_incident_months, strict=True)
    ):
        tag = f"G{i + 1:02d}"
        # Below 10 workers the rule fires on the third claim, else on reaching 10 workers.
        claims = rng.randint(3, min(4, workers)) if workers < 10 else rng.choice([1, 2, 2, 3, 4])
        shares = split(rng, workers, claims)
        day = incident_day(rng, p.year, month, used)
        # All claims of one incident on one working day between 09:00 and 15:59 local: within
        # any 7-day window, however a rule aligns its windows (epoch-aligned weeks start on
        # Thursday 08:00 local, calendar days at 00:00).
        start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=CST)
        offsets = sorted(rng.sample(range(0, 7 * 3600), claims))
        base_name = names.firm(rng.choice(("建筑劳务", "建设工程", "装饰")))
        # One incident is reported by name only, typed three ways (brackets, spaces): the
        # rules must key it by the normalised name. The others carry a credit code.
        by_name = i == 4
        code = None if by_name else names.credit_code()
        variants = [
            base_name.replace("有限公司", "有限公司（龙湾）"),
            base_name.replace("有限公司", "有限公司 (龙湾)"),
            base_name.replace("有限公司", " 有限公司(龙湾)"),
            base_name.replace("有限公司", "有限公司（龙湾） "),
        ]
        street = pick(rng, STREET_WEIGHTS)
        project = f"{rng.choice(WORDS)}{rng.choice(WORDS)}安置房项目{rng.randint(1, 9)}期"
        per_worker = rng.randint(8, 28) * 1000
        amounts = []
        for j, (n, off) in enumerate(zip(shares, offsets, strict=True)):
            employer: dict[str, Any] = {"name": variants[j] if by_name else base_name}
            if code:
                employer["credit_code"] = code
            amount = Decimal(n * per_worker)
            amounts.append(amount)
            channel = rng.choice(["walkin", "hotline", "referral"])
            data: dict[str, Any] = {
                "street": street,
                "employer": employer,
                "project": {"name": project},
                "worker_count": n,
                "amount_yuan": yuan(amount),
                "months_owed": rng.randint(2, 8),
                "contact": {"name": names.person(), "phone": names.phone()},
                "channel": channel,
                "summary": "模拟群体性讨薪",
            }
            drafts.append(Draft("wage-arrears", start + timedelta(seconds=off), data, channel, tag))
        total_amount = sum(amounts, Decimal(0))
        employer_name = variants[0] if by_name else base_name
        planted.append(
            PlantedGroup(
                tag=tag,
                employer=employer_name,
                employer_key=org_key(employer_name, code) or "",
                credit_code=code,
                street=street,
                claims=claims,
                workers=workers,
                amount_yuan=yuan(total_amount),
                trigger="workers" if workers >= 10 else "claims",
                escalation=(
                    "city" if workers >= 50 or total_amount >= Decimal(1_000_000) else "district"
                ),
            )
        )
    return drafts, planted
