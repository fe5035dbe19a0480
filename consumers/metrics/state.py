"""What the command-center dashboard shows, kept between events: open cases per committee, the
risk cells, the feed of incidents and escalations, and today's counts. Plain data, no metrics.

Every key here is a vocabulary code (or ``unknown``); the feed carries opaque references and
display names, never a case id, an incident key or a name.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

DAYS_KEPT = 3  # today's counts, with a margin for events that arrive late
RISK_DAYS_KEPT = 400  # a year of daily risk snapshots, and a margin


@dataclass
class OpenCase:
    committee: str
    deadline: datetime
    breached: bool = False


@dataclass
class DashboardState:
    tz: tzinfo
    feed_size: int = 50
    open_cases: dict[str, OpenCase] = field(default_factory=dict)
    committees: set[str] = field(default_factory=set)
    risk: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    days: dict[date, Counter[str]] = field(default_factory=dict)
    # street -> its highest cell score, as it stood at the end of each local day
    risk_days: dict[date, dict[str, float]] = field(default_factory=dict)
    lag_group: str | None = None
    lag: dict[str, int] = field(default_factory=dict)
    feed: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.feed = deque(maxlen=self.feed_size)

    def tally(self, when: datetime, key: str, n: int = 1) -> None:
        """Count ``key`` on the district-local day of ``when``."""
        day = when.astimezone(self.tz).date()
        self.days.setdefault(day, Counter())[key] += n
        if len(self.days) > DAYS_KEPT:
            for old in sorted(self.days)[:-DAYS_KEPT]:
                del self.days[old]

    def note_risk_day(self, when: datetime) -> None:
        """Keep the streets' scores as they now stand as the day's snapshot (the last change
        of the day wins); days without a change repeat the day before when read."""
        day = when.astimezone(self.tz).date()
        streets: dict[str, float] = {}
        for (street, _category), (_level, score) in self.risk.items():
            streets[street] = max(score, streets.get(street, 0.0))
        self.risk_days[day] = streets
        if len(self.risk_days) > RISK_DAYS_KEPT:
            for old in sorted(self.risk_days)[:-RISK_DAYS_KEPT]:
                del self.risk_days[old]

    def add_to_feed(self, entry: dict[str, Any]) -> None:
        """Newest first; an entry with the same ``ref`` (an updated incident) replaces the old."""
        for i, old in enumerate(self.feed):
            if old["ref"] == entry["ref"]:
                del self.feed[i]
                break
        self.feed.appendleft(entry)

    def open_by_committee(self) -> dict[str, int]:
        return dict(Counter(c.committee for c in self.open_cases.values()))

    def overdue_by_committee(self, now: datetime) -> dict[str, int]:
        out: Counter[str] = Counter()
        for case in self.open_cases.values():
            if case.breached or case.deadline < now:
                out[case.committee] += 1
        return dict(out)
