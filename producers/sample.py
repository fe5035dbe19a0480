"""Random but valid intake events for demos, tests and the quick feed of ``make up``.

The calibrated year of Longwan lives in the simulator; this is the small, seedable generator.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from schemas.events import DisputeCategory, PetitionCategory

STREETS = (
    "yongzhong",
    "puzhou",
    "haibin",
    "yongxing",
    "haicheng",
    "zhuangyuan",
    "yaoxi",
    "shacheng",
    "tianhe",
    "xinghai",
)
DISPUTE_CATEGORIES: tuple[str, ...] = get_args(DisputeCategory)
PETITION_CATEGORIES: tuple[str, ...] = get_args(PetitionCategory)
CHANNELS = ("hotline", "miniapp", "walkin", "referral")


def credit_code(rng: random.Random) -> str:
    from schemas.validators import USCC_CHARS, credit_code_check_char

    body = "91330303" + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return body + credit_code_check_char(body)


def dispute(
    rng: random.Random,
    event_id: str,
    when: datetime,
    *,
    street: str | None = None,
    category: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "street": street or rng.choice(STREETS),
        "category": category or rng.choice(DISPUTE_CATEGORIES),
        "parties": [
            {"role": "applicant", "kind": "person"},
            {"role": "respondent", "kind": rng.choice(["person", "organisation"])},
        ],
        "party_count": 2,
        "amount_yuan": str(rng.choice([0, 500, 3000, 20000, 80000])),
        "collective": False,
        "channel": rng.choice(CHANNELS),
        "summary": "sample dispute",
    }
    data.update(overrides)
    return {
        "id": event_id,
        "source": "sim/sample",
        "type": "dispute.reported.v1",
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


def petition(rng: random.Random, event_id: str, when: datetime, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "street": rng.choice(STREETS),
        "category": rng.choice(PETITION_CATEGORIES),
        "petitioner_count": 1,
        "target_agency": "district housing bureau",
        "repeat_of": [],
        "channel": rng.choice(CHANNELS),
        "summary": "sample petition",
    }
    data.update(overrides)
    return {
        "id": event_id,
        "source": "sim/sample",
        "type": "petition.filed.v1",
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


def wage_arrears(
    rng: random.Random, event_id: str, when: datetime, **overrides: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "street": rng.choice(STREETS),
        "employer": {"name": f"Sample Construction Co {rng.randint(1, 50)}"},
        "worker_count": rng.randint(1, 4),
        "amount_yuan": str(rng.randint(2, 60) * 1000),
        "channel": rng.choice(CHANNELS),
        "summary": "sample wage claim",
    }
    data.update(overrides)
    return {
        "id": event_id,
        "source": "sim/sample",
        "type": "wage_arrears.reported.v1",
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


def random_event(
    rng: random.Random, n: int, when: datetime | None = None, run: str = "s"
) -> tuple[str, dict[str, Any]]:
    """(kind, envelope) with a unique id per (run, n)."""
    when = when or datetime.now(UTC) - timedelta(seconds=1)
    roll = rng.random()
    eid = f"sample-{run}-{n:08d}"
    if roll < 0.75:
        return "dispute", dispute(rng, eid, when)
    if roll < 0.9:
        return "petition", petition(rng, eid, when)
    return "wage-arrears", wage_arrears(rng, eid, when)
