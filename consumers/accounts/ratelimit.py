"""Login rate limits: pure arithmetic over the times of recent failed logins.

Failures are counted per account and per address within a sliding window; once either count
reaches its limit, logins are refused (even with the right password) until the oldest
counted failure leaves the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def retry_after(
    failures: list[datetime], limit: int, window: timedelta, now: datetime
) -> timedelta | None:
    """How long until a login may be tried again, or None when it may be tried now."""
    recent = sorted(t for t in failures if t > now - window)
    if len(recent) < limit:
        return None
    # The attempt is allowed again once enough failures have aged out of the window.
    oldest_that_must_go = recent[len(recent) - limit]
    return max(oldest_that_must_go + window - now, timedelta(seconds=1))


def minutes(wait: timedelta) -> int:
    """A wait in whole minutes, rounded up, for the message a person reads."""
    return max(1, math.ceil(wait.total_seconds() / 60))
