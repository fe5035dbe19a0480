"""When in the year an event happens: day weights by month, weekday, holiday and wage peak,
then an hour of the day by channel (desks keep office hours, lines and apps run late)."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from producers.simulator.calibration import (
    CST,
    HOLIDAY,
    HOLIDAY_FACTOR,
    HOURS_OFFICE,
    HOURS_ONLINE,
    MONTHS,
    OFFICE_CHANNELS,
    WAGE_PEAK_FACTOR,
    WAGE_PEAKS,
    WEEKEND_FACTOR,
)


@dataclass
class Calendar:
    """Cumulative day weights per (kind, channel class), for sampling a moment of the year."""

    year: int
    days: list[date] = field(default_factory=list)
    cum: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = date(self.year, 1, 1)
        while d.year == self.year:
            self.days.append(d)
            d += timedelta(days=1)

    def day_weight(self, kind: str, klass: str, d: date) -> float:
        w = MONTHS[kind][d.month - 1] / (31 if d.month != 2 else 28)
        if d.weekday() >= 5:
            w *= WEEKEND_FACTOR[klass]
        if HOLIDAY[0] <= d <= HOLIDAY[1]:
            w *= HOLIDAY_FACTOR
        if kind == "wage-arrears" and any(a <= d <= b for a, b in WAGE_PEAKS):
            w *= WAGE_PEAK_FACTOR
        return w

    def moment(self, rng: random.Random, kind: str, channel: str) -> datetime:
        klass = "office" if channel in OFFICE_CHANNELS else "online"
        key = (kind, klass)
        if key not in self.cum:
            self.cum[key] = list(
                itertools.accumulate(self.day_weight(kind, klass, d) for d in self.days)
            )
        cum = self.cum[key]
        day = self.days[bisect.bisect_right(cum, rng.random() * cum[-1])]
        hours = HOURS_OFFICE if klass == "office" else HOURS_ONLINE
        hour = rng.choices(range(24), weights=hours)[0]
        return datetime(
            day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=CST
        )
