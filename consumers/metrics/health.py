"""Whether the monitoring sink is consuming: what ``/readyz`` answers, with a reason when not.

The consumer loop reports each poll, each answer (or silence) of the broker, and its end; the
HTTP thread asks ``readiness()``. Plain code with an injected monotonic clock, so the rules are
tested without a broker: ready means the topics are assigned, a poll returned within
``stale_after_s``, and the broker's last answer is more recent than its last failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str  # a sentence for the operator; never message content


class ConsumerHealth:
    def __init__(
        self, stale_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._lock = threading.Lock()
        self._assigned = False
        self._last_poll: float | None = None
        self._broker_failed_since: float | None = None
        self._broker_error = ""
        self._stopped: str | None = None

    def polled(self, assigned: bool) -> None:
        with self._lock:
            self._assigned = assigned
            self._last_poll = self.clock()

    def broker_answered(self) -> None:
        with self._lock:
            self._broker_failed_since = None
            self._broker_error = ""

    def broker_failed(self, err: BaseException) -> None:
        with self._lock:
            if self._broker_failed_since is None:
                self._broker_failed_since = self.clock()
            self._broker_error = type(err).__name__

    def stopped(self, err: BaseException | None = None) -> None:
        with self._lock:
            failed = f"the consumer failed ({type(err).__name__})"
            self._stopped = "the consumer stopped" if err is None else failed

    @property
    def consuming(self) -> bool:
        return self.readiness().ready

    def readiness(self) -> Readiness:
        with self._lock:
            now = self.clock()
            if self._stopped is not None:
                return Readiness(False, self._stopped)
            if self._last_poll is None:
                return Readiness(False, "the consumer has not polled Kafka yet")
            if not self._assigned:
                return Readiness(False, "the consumer has no topic partitions assigned yet")
            quiet = now - self._last_poll
            if quiet > self.stale_after_s:
                return Readiness(False, f"no poll of Kafka returned for {quiet:.0f} s")
            if self._broker_failed_since is not None:
                down = now - self._broker_failed_since
                return Readiness(
                    False, f"Kafka has not answered for {down:.0f} s ({self._broker_error})"
                )
            return Readiness(True, "consuming")
