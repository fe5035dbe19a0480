"""What is behind a heat cell or an incident on the dashboard: case counts by committee,
status and age, and an incident's member cases as ids, committees and statuses.

The incident is found by the feed's opaque reference (its id may embed a key, and a key a
name); nothing returned carries a name, a phone, an id number or an incident key.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from consumers import tables as t

# Age of a case since it was routed, in the buckets a duty officer thinks in.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-7d", timedelta(days=7)),
    ("7-30d", timedelta(days=30)),
    (">30d", None),
)


def feed_ref(kind: str, ident: str) -> str:
    """The feed's handle for an incident or escalation (the metrics fold makes the same)."""
    return hashlib.sha256(f"{kind}:{ident}".encode()).hexdigest()[:16]


def age_bucket(age: timedelta) -> str:
    for name, limit in AGE_BUCKETS:
        if limit is None or age < limit:
            return name
    return AGE_BUCKETS[-1][0]


def heat_cell(engine: Engine, street: str, category: str, now: datetime) -> dict[str, Any]:
    """The cases of one street and category: totals by committee, status and age."""
    c = t.cases.c
    q = select(c.committee_id, c.status, c.routed_at).where(
        c.street == street, c.category == category
    )
    by_committee: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    by_age: Counter[str] = Counter()
    rows: Counter[tuple[str, str]] = Counter()
    with engine.connect() as conn:
        for committee, status, routed_at in conn.execute(q):
            by_committee[committee] += 1
            by_status[status] += 1
            by_age[age_bucket(now - routed_at)] += 1
            rows[(committee, status)] += 1
    return {
        "street": street,
        "category": category,
        "total": sum(by_status.values()),
        "by_committee": dict(by_committee.most_common()),
        "by_status": dict(by_status),
        "by_age": {name: by_age.get(name, 0) for name, _ in AGE_BUCKETS},
        "rows": [
            {"committee": k[0], "status": k[1], "cases": n}
            for k, n in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def incident_members(engine: Engine, ref: str) -> dict[str, Any] | None:
    """The member cases of the incident behind a feed reference, or None if none matches."""
    i = t.incidents.c
    with engine.connect() as conn:
        found = None
        for incident_id, rule_id, case_ids, people, at in conn.execute(
            select(i.incident_id, i.rule_id, i.case_ids, i.people, i.time)
        ):
            if feed_ref("incident", incident_id) == ref:
                found = (rule_id, list(case_ids), people, at)
                break
        if found is None:
            return None
        rule_id, ids, people, at = found
        c = t.cases.c
        known = {
            case_id: (committee, status)
            for case_id, committee, status in conn.execute(
                select(c.case_id, c.committee_id, c.status).where(c.case_id.in_(ids))
            )
        }
    return {
        "ref": ref,
        "rule": rule_id,
        "people": int(people),
        "time": at.isoformat(),
        "cases": [
            {
                "case_id": cid,
                "committee": known.get(cid, ("", ""))[0] or None,
                "status": known.get(cid, ("", ""))[1] or None,
            }
            for cid in ids
        ],
    }
