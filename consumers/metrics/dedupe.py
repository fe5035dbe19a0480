"""Event ids seen within a horizon of event time: the monitoring sink counts each event once.

The worker delivers at least once and dedupes on the event id within the same horizon, so the
sink forgets ids as the worker does and its counts match the worker's.
"""

from __future__ import annotations

from datetime import timedelta


class ExpiringIds:
    """Ids seen within ``horizon`` of event time, as the worker dedupes; older ids are forgotten."""

    def __init__(self, horizon: timedelta) -> None:
        self.horizon = horizon.total_seconds()
        self.ids: dict[str, float] = {}
        self.newest = 0.0
        self._since_expiry = 0

    def seen_before(self, key: str, ts: float) -> bool:
        """True when ``key`` was seen within the horizon; otherwise remember it and say False."""
        first = self.ids.get(key)
        if first is not None and abs(ts - first) <= self.horizon:
            return True
        self.ids[key] = ts
        self.newest = max(self.newest, ts)
        self._since_expiry += 1
        if self._since_expiry >= 10_000:
            self.expire()
        return False

    def known(self, key: str) -> bool:
        return key in self.ids

    def expire(self) -> None:
        cutoff = self.newest - self.horizon
        for key in [k for k, ts in self.ids.items() if ts < cutoff]:
            del self.ids[key]
        self._since_expiry = 0
