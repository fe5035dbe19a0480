"""The background of the year: disputes, petitions, individual wage claims and consultations,
drawn so that none of them meets a group-incident rule (only the planted groups may)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from producers.simulator.calibration import (
    BACKGROUND_WORKERS_MAX,
    CHANNELS,
    COMMUNITIES_PER_STREET,
    COMMUNITY_SHARE,
    CONSULTATION_CATEGORY_WEIGHTS,
    DISPUTE_AMOUNT,
    DISPUTE_CATEGORY_WEIGHTS,
    MATTER_WINDOW,
    PETITION_AGENCIES,
    PETITION_CATEGORY_WEIGHTS,
    REPEAT_SHARE,
    STREET_WEIGHTS,
    Profile,
)
from producers.simulator.draft import Draft
from producers.simulator.moments import Calendar
from producers.simulator.names import Names
from producers.simulator.sampling import pick, yuan


def disputes(rng: random.Random, p: Profile, cal: Calendar, names: Names) -> list[Draft]:
    drafts: list[Draft] = []
    raw: list[float | None] = []
    for _ in range(p.disputes):
        category = pick(rng, DISPUTE_CATEGORY_WEIGHTS)
        street = pick(rng, STREET_WEIGHTS)
        channel = pick(rng, CHANNELS["dispute"])
        party_count = rng.choices([2, 3, 4], weights=[80, 14, 6])[0]
        applicant: dict[str, Any] = {"role": "applicant", "kind": "person"}
        if rng.random() < 0.6:
            applicant |= {"name": names.person(), "phone": names.phone()}
        org = category in ("labor", "contract", "consumer", "construction", "medical") and (
            rng.random() < 0.7
        )
        respondent: dict[str, Any] = {"role": "respondent", "kind": "person"}
        if org:
            # Unique organisation and credit code: dispute_respondent (3 against one
            # organisation in 7 days) must not fire on background disputes.
            respondent = {
                "role": "respondent",
                "kind": "organisation",
                "name": names.firm(),
                "credit_code": names.credit_code(),
            }
        median, none_share = DISPUTE_AMOUNT[category]
        raw.append(None if rng.random() < none_share else median * math.exp(rng.gauss(0, 1.2)))
        data: dict[str, Any] = {
            "street": street,
            "category": category,
            "parties": [applicant, respondent],
            "party_count": party_count,
            "collective": False,
            "channel": channel,
            "summary": f"模拟{category}纠纷",
        }
        if rng.random() < COMMUNITY_SHARE:
            data["community"] = f"{street}-{rng.randint(1, COMMUNITIES_PER_STREET):02d}"
        drafts.append(Draft("dispute", cal.moment(rng, "dispute", channel), data, channel))
    # Scale the draws so the year's amounts sum exactly to the report's total.
    target = p.dispute_amount_yuan
    total = sum(x for x in raw if x is not None)
    amounts = [None if x is None else Decimal(round(x * float(target) / total)) for x in raw]
    residual = target - sum(a for a in amounts if a is not None)
    biggest = max(range(len(amounts)), key=lambda i: amounts[i] or Decimal(0))
    amounts[biggest] = (amounts[biggest] or Decimal(0)) + residual
    for d, a in zip(drafts, amounts, strict=True):
        if a is not None:
            d.data["amount_yuan"] = yuan(a)
    return drafts


def petitions(rng: random.Random, p: Profile, cal: Calendar) -> list[Draft]:
    drafts = []
    for _ in range(p.petitions):
        channel = pick(rng, CHANNELS["petition"])
        drafts.append(Draft("petition", cal.moment(rng, "petition", channel), {}, channel))
    drafts.sort(key=lambda d: d.time)
    # Assign matters (street + category + agency) in time order so that no matter gathers 3
    # petitions within 30 days: petition_matter must not fire on the background.
    seen: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    placed: list[Draft] = []
    for d in drafts:
        # Some petitions repeat an earlier one on the same matter (重复访), at least a month
        # later; the matter rule below still holds.
        earlier = [e for e in placed if d.time - e.time >= MATTER_WINDOW]
        if earlier and rng.random() < REPEAT_SHARE:
            first = rng.choice(earlier)
            while first.repeat_of is not None:
                first = first.repeat_of
            matter = (first.data["street"], first.data["category"], first.data["target_agency"])
            if len([t for t in seen[matter] if d.time - t < MATTER_WINDOW]) < 2:
                d.repeat_of = first
        if d.repeat_of is not None:
            street, category, agency = matter
        else:
            for _attempt in range(100):
                street = pick(rng, STREET_WEIGHTS)
                category = pick(rng, PETITION_CATEGORY_WEIGHTS)
                agency = rng.choice(PETITION_AGENCIES[category])
                recent = [t for t in seen[(street, category, agency)] if d.time - t < MATTER_WINDOW]
                if len(recent) < 2:
                    break
            else:  # pragma: no cover - 960 matters for a few hundred petitions
                raise RuntimeError("could not place a petition without forming a matter group")
        seen[(street, category, agency)].append(d.time)
        d.data = {
            "street": street,
            "category": category,
            "petitioner_count": rng.choices([1, 2, 3, 4], weights=[80, 12, 5, 3])[0],
            "target_agency": agency,
            "repeat_of": [],  # the first petition's id, filled in once ids are assigned
            "channel": d.channel,
            "summary": f"模拟{category}信访",
        }
        placed.append(d)
    return drafts


def background_wage(rng: random.Random, p: Profile, cal: Calendar, names: Names) -> list[Draft]:
    drafts = []
    for _ in range(p.background_wage_claims):
        channel = pick(rng, CHANNELS["wage-arrears"])
        workers = rng.choices(range(1, BACKGROUND_WORKERS_MAX + 1), weights=[50, 20, 12, 8, 6, 4])[
            0
        ]
        data = {
            "street": pick(rng, STREET_WEIGHTS),
            # One claim per employer, each with its own credit code: never a group.
            "employer": {"name": names.firm(), "credit_code": names.credit_code()},
            "worker_count": workers,
            "amount_yuan": yuan(Decimal(workers * rng.randint(3, 30) * 1000)),
            "months_owed": rng.randint(1, 6),
            "contact": {"name": names.person(), "phone": names.phone()},
            "channel": channel,
            "summary": "模拟个人欠薪",
        }
        drafts.append(
            Draft("wage-arrears", cal.moment(rng, "wage-arrears", channel), data, channel)
        )
    return drafts


def consultations(rng: random.Random, p: Profile, cal: Calendar) -> list[Draft]:
    drafts = []
    for _ in range(p.consultations):
        channel = pick(rng, CHANNELS["consultation"])
        category = pick(rng, CONSULTATION_CATEGORY_WEIGHTS)
        data: dict[str, Any] = {
            "category": category,
            "channel": channel,
            "duration_s": int(rng.lognormvariate(math.log(420), 0.6)) % 86_400,
            "summary": f"模拟{category}法律咨询",
        }
        if rng.random() < 0.8:
            data["street"] = pick(rng, STREET_WEIGHTS)
        drafts.append(
            Draft("consultation", cal.moment(rng, "consultation", channel), data, channel)
        )
    return drafts
