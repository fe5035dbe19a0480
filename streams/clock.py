"""What "now" means to the rules: the wall clock, or stream time (the newest event time seen).

Stream time lets a simulated year replayed at high speed keep its windows and deadlines honest.
Before any event has been seen stream time is unknown, and timers must wait rather than guess.
"""

from __future__ import annotations

from datetime import UTC, datetime


def wall_clock() -> datetime:
    return datetime.now(UTC)


class StreamClock:
    """Newest event time observed by this process; callable like any clock."""

    def __init__(self) -> None:
        self._newest: datetime | None = None

    def observe(self, t: datetime) -> None:
        if self._newest is None or t > self._newest:
            self._newest = t

    @property
    def known(self) -> bool:
        return self._newest is not None

    def __call__(self) -> datetime:
        # Until the first event arrives there is no stream time; the epoch makes every
        # deadline look far away instead of overdue.
        return self._newest or datetime(1970, 1, 1, tzinfo=UTC)
