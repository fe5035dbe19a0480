"""A reporting window in the district's local time, and the buckets (days, ISO weeks, months)
its figures are counted in. The store keeps UTC; windows are half-open ``[start, end)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# The periods the dashboard offers (days back from today, today included).
PERIODS: dict[str, int] = {"7d": 7, "30d": 30, "1y": 365}


class BadPeriod(ValueError):
    """The requested period is not one the dashboard offers."""


@dataclass(frozen=True)
class Window:
    first: date  # local, included
    last: date  # local, included
    tz: tzinfo

    @classmethod
    def ending(cls, today: date, days: int, tz: tzinfo) -> Window:
        return cls(today - timedelta(days=days - 1), today, tz)

    @classmethod
    def period(cls, name: str, today: date, tz: tzinfo) -> Window:
        if name not in PERIODS:
            raise BadPeriod(f"period must be one of {', '.join(PERIODS)}")
        return cls.ending(today, PERIODS[name], tz)

    @property
    def start(self) -> datetime:
        """The first instant, in UTC."""
        return datetime.combine(self.first, time(), self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.tz).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def local_day(self, when: datetime) -> date:
        return when.astimezone(self.tz).date()

    def day_keys(self) -> list[str]:
        return [(self.first + timedelta(days=i)).isoformat() for i in range(self.days)]

    def week_keys(self) -> list[str]:
        seen: list[str] = []
        for i in range(self.days):
            k = week_key(self.first + timedelta(days=i))
            if not seen or seen[-1] != k:
                seen.append(k)
        return seen

    def month_keys(self) -> list[str]:
        seen: list[str] = []
        for i in range(self.days):
            k = month_key(self.first + timedelta(days=i))
            if not seen or seen[-1] != k:
                seen.append(k)
        return seen

    def bucket(self) -> str:
        """Rates and incidents: by day over a week or a month, by month over a year."""
        return "day" if self.days <= 31 else "month"

    def key(self, when: datetime, bucket: str) -> str:
        d = self.local_day(when)
        return {"day": d.isoformat, "week": lambda: week_key(d), "month": lambda: month_key(d)}[
            bucket
        ]()

    def keys(self, bucket: str) -> list[str]:
        return {"day": self.day_keys, "week": self.week_keys, "month": self.month_keys}[bucket]()


def week_key(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def month_key(d: date) -> str:
    return f"{d.year}-{d.month:02d}"
