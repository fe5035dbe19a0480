"""The dashboard's trend series from the case store: cases per day and week by kind, the
mediation success rate, the SLA breach rate and group incidents, over one ``Window``.

Rows are selected by time range and counted here in local-time buckets, which reads the same
on SQLite and PostgreSQL (neither's date functions agree on time zones).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, select

from consumers import tables as t
from consumers.figures.window import Window

KINDS = ("dispute", "petition", "wage_arrears")
SUCCESS = "agreement"
BREACHED = "sla.breached.v1"


def _series(keys: list[str], counts: Counter[str]) -> list[int]:
    return [counts.get(k, 0) for k in keys]


def _rate(keys: list[str], num: Counter[str], den: Counter[str]) -> list[float | None]:
    """Percent with two decimals; None where nothing was counted (a gap, not a zero)."""
    return [round(100 * num[k] / den[k], 2) if den.get(k) else None for k in keys]


def cases_by_kind(engine: Engine, w: Window) -> dict[str, Any]:
    q = select(t.cases.c.kind, t.cases.c.routed_at).where(
        t.cases.c.routed_at >= w.start, t.cases.c.routed_at < w.end
    )
    by: dict[str, dict[str, Counter[str]]] = {
        b: {k: Counter() for k in KINDS} for b in ("day", "week")
    }
    with engine.connect() as conn:
        for kind, routed_at in conn.execute(q):
            if kind not in KINDS:
                continue
            for b in ("day", "week"):
                by[b][kind][w.key(routed_at, b)] += 1
    days, weeks = w.day_keys(), w.week_keys()
    return {
        "days": days,
        "weeks": weeks,
        "by_day": {k: _series(days, by["day"][k]) for k in KINDS},
        "by_week": {k: _series(weeks, by["week"][k]) for k in KINDS},
    }


def success_rate(engine: Engine, w: Window) -> dict[str, Any]:
    """Disputes concluded with agreement ÷ disputes concluded, by when they concluded."""
    c = t.cases.c
    q = select(c.outcome, c.concluded_at).where(
        c.kind == "dispute", c.concluded_at >= w.start, c.concluded_at < w.end
    )
    b = w.bucket()
    done: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    with engine.connect() as conn:
        for outcome, at in conn.execute(q):
            k = w.key(at, b)
            done[k] += 1
            agreed[k] += outcome == SUCCESS
    keys = w.keys(b)
    return {
        "bucket": b,
        "keys": keys,
        "concluded": _series(keys, done),
        "agreement": _series(keys, agreed),
        "rate": _rate(keys, agreed, done),
    }


def sla_breach_rate(engine: Engine, w: Window) -> dict[str, Any]:
    """Cases routed in each bucket that breached a deadline (any clock) ÷ cases routed."""
    c = t.cases.c
    breached = select(t.sla_alerts.c.case_id).where(t.sla_alerts.c.type == BREACHED)
    q = select(c.routed_at, c.case_id.in_(breached)).where(
        c.routed_at >= w.start, c.routed_at < w.end
    )
    b = w.bucket()
    routed: Counter[str] = Counter()
    late: Counter[str] = Counter()
    with engine.connect() as conn:
        for at, was_late in conn.execute(q):
            k = w.key(at, b)
            routed[k] += 1
            late[k] += bool(was_late)
    keys = w.keys(b)
    return {
        "bucket": b,
        "keys": keys,
        "routed": _series(keys, routed),
        "breached": _series(keys, late),
        "rate": _rate(keys, late, routed),
    }


def incidents(engine: Engine, w: Window) -> dict[str, Any]:
    """Group incidents first detected in each bucket, and the people in them."""
    i = t.incidents.c
    q = select(i.time, i.people).where(i.time >= w.start, i.time < w.end)
    b = w.bucket()
    n: Counter[str] = Counter()
    people: Counter[str] = Counter()
    with engine.connect() as conn:
        for at, p in conn.execute(q):
            k = w.key(at, b)
            n[k] += 1
            people[k] += int(p)
    keys = w.keys(b)
    return {
        "bucket": b,
        "keys": keys,
        "incidents": _series(keys, n),
        "people": _series(keys, people),
    }


def all_trends(engine: Engine, w: Window) -> dict[str, Any]:
    return {
        "first": w.first.isoformat(),
        "last": w.last.isoformat(),
        "cases": cases_by_kind(engine, w),
        "success": success_rate(engine, w),
        "sla": sla_breach_rate(engine, w),
        "incidents": incidents(engine, w),
    }
