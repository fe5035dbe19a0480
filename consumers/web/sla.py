"""The SLA clock a mediator sees on each case: which deadline runs, how much time is left,
and its colour (green, amber from the warning fraction of the period, red once breached).

Pure: the periods and "now" are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Colour = Literal["green", "amber", "red", "none"]
Clock = Literal["accept", "conclude"]


@dataclass(frozen=True, slots=True)
class SlaClock:
    clock: Clock | None  # None: the case is concluded or closed, no clock runs
    due: datetime | None
    left: timedelta | None  # negative once breached
    colour: Colour


def colour(start: datetime, due: datetime, now: datetime, warn_fraction: float) -> Colour:
    """green before ``warn_fraction`` of the period has passed, amber from then, red once
    ``due`` has passed."""
    if now > due:
        return "red"
    period = (due - start).total_seconds()
    if period <= 0 or (now - start).total_seconds() >= warn_fraction * period:
        return "amber"
    return "green"


def case_clock(
    status: str,
    routed_at: datetime,
    accept_period: timedelta | None,
    conclude_by: datetime,
    now: datetime,
    warn_fraction: float = 0.8,
) -> SlaClock:
    """A new case runs its accept clock (from routing, for the kind's accept period); an
    accepted one runs the conclude clock (from routing to the routing decision's deadline)."""
    if status == "new" and accept_period is not None:
        due = routed_at + accept_period
        return SlaClock("accept", due, due - now, colour(routed_at, due, now, warn_fraction))
    if status in ("new", "accepted"):
        return SlaClock(
            "conclude",
            conclude_by,
            conclude_by - now,
            colour(routed_at, conclude_by, now, warn_fraction),
        )
    return SlaClock(None, None, None, "none")


def human(left: timedelta, lang: str = "zh") -> str:
    """'剩 3 天 4 小时' / '超时 2 小时', or in English '3 d 4 h left' / '2 h overdue'."""
    overdue = left < timedelta(0)
    s = int(abs(left.total_seconds()))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    mins = rest // 60
    if lang == "en":
        if days:
            span = f"{days} d {hours} h" if hours else f"{days} d"
        elif hours:
            span = f"{hours} h {mins} min" if mins else f"{hours} h"
        else:
            span = f"{max(mins, 1)} min"
        return f"{span} overdue" if overdue else f"{span} left"
    if days:
        span = f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    elif hours:
        span = f"{hours} 小时 {mins} 分" if mins else f"{hours} 小时"
    else:
        span = f"{max(mins, 1)} 分钟"
    return f"超时 {span}" if overdue else f"剩 {span}"
