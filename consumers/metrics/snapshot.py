"""The dashboard's JSON, rendered from the sink's state: codes with display names and counts.

Rows are the catalogue's streets in its order, then any other key seen (only ``unknown`` can
be one); columns the dispute categories. Nothing here is personal data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from consumers import labels
from consumers.metrics.state import DashboardState
from consumers.metrics.vocabulary import Vocabulary

# legal_aid is a consultation category only: no dispute is ever scored in it.
CATEGORY_COLUMNS = tuple(c for c in labels.CATEGORIES if c != "legal_aid")


def render(state: DashboardState, vocab: Vocabulary, now: datetime, tz: tzinfo) -> dict[str, Any]:
    today = now.astimezone(tz).date()
    overdue = state.overdue_by_committee(now)
    open_ = state.open_by_committee()
    seen_streets = {s for s, _ in state.risk}
    seen_cats = {c for _, c in state.risk}
    streets = list(vocab.streets) + sorted(seen_streets - set(vocab.streets))
    cats = list(CATEGORY_COLUMNS) + sorted(seen_cats - set(CATEGORY_COLUMNS))
    cells = {
        f"{s}/{c}": {"level": level, "score": round(score, 2)}
        for (s, c), (level, score) in state.risk.items()
    }
    committees = sorted(state.committees, key=lambda c: (-overdue.get(c, 0), -open_.get(c, 0), c))
    offset = tz.utcoffset(None) or timedelta()
    counts = dict(state.days.get(today, {}))
    return {
        "now": now.isoformat(),
        "today": today.isoformat(),
        "utc_offset_minutes": int(offset.total_seconds()) // 60,
        "streets": [{"code": s, "name": vocab.street_name(s)} for s in streets],
        "categories": [{"code": c, "name": vocab.category_name(c)} for c in cats],
        "levels": [{"code": lv, "name": n} for lv, n in labels.LEVELS.items()],
        "risk": cells,
        "feed": list(state.feed),
        "today_counts": counts,
        # A case is opened by a routed report; a report linked to an open case is a report,
        # not a case. Cases and reports are shown apart, and reports = cases + linked.
        "today_cases": counts.get("routed", 0),
        "today_reports": counts.get("routed", 0) + counts.get("linked", 0),
        "committees": [
            {
                "code": c,
                "name": vocab.committee_name(c),
                "open": open_.get(c, 0),
                "overdue": overdue.get(c, 0),
            }
            for c in committees
        ],
        "lag": {"group": state.lag_group, "topics": dict(state.lag)},
    }


def render_risk_history(
    state: DashboardState, vocab: Vocabulary, today: date, days: int
) -> dict[str, Any]:
    """The streets' daily risk scores (highest cell per street), oldest day first; a day
    without a change carries the day before, a street never scored is 0."""
    first = today - timedelta(days=days - 1)
    keys = [first + timedelta(days=i) for i in range(days)]
    before = [d for d in state.risk_days if d < first]
    current: dict[str, float] = dict(state.risk_days[max(before)]) if before else {}
    seen = {s for snap in state.risk_days.values() for s in snap}
    streets = list(vocab.streets) + sorted(seen - set(vocab.streets))
    series: dict[str, list[float]] = {s: [] for s in streets}
    for d in keys:
        if d in state.risk_days:
            current = state.risk_days[d]
        for s in streets:
            series[s].append(round(current.get(s, 0.0), 2))
    return {
        "days": [d.isoformat() for d in keys],
        "streets": [
            {"code": s, "name": vocab.street_name(s), "scores": series[s]} for s in streets
        ],
    }
