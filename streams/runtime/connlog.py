"""Connection errors from aiokafka, logged once per change of state with a count.

While a broker is away aiokafka logs every failed attempt (connect, metadata, fetch,
heartbeat) at ERROR: a 20 s outage wrote 67,420 lines in 37 s. ``ConnectionLog`` lets the
first one through, counts the rest, says every ``remind_s`` how many it counted, and says when
the errors stopped (``tick``, called by a timer) with the total.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("fengqiao.worker.kafka")

# what aiokafka says when it cannot reach a broker, in its log messages and error names
MARKERS = (
    "Unable connect",
    "Unable to update metadata",
    "Failed fetch",
    "Heartbeat send request failed",
    "Group Coordinator Request failed",
    "FindCoordinator Request failed",
    "Cannot send",
    "Could not send",
    "Connection",
    "NodeNotReady",
    "RequestTimedOut",
    "CoordinatorNotAvailable",
    "NotCoordinator",
)


def is_connection_error(record: logging.LogRecord) -> bool:
    if record.levelno < logging.WARNING or not record.name.startswith("aiokafka"):
        return False
    try:
        text = record.getMessage()
    except Exception:  # a record whose arguments do not format is not ours to judge
        return False
    return any(marker in text for marker in MARKERS)


class ConnectionLog(logging.Filter):
    """A filter for the worker's log handlers (thread-safe: faust's consumer logs from its own
    thread)."""

    def __init__(
        self,
        quiet_s: float = 5.0,
        remind_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.quiet_s, self.remind_s, self.clock = quiet_s, remind_s, clock
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.answered: float | None = None  # when Kafka answered during an outage
        self.last_error = 0.0
        self.last_said = 0.0
        self.count = 0  # errors since the connection was lost
        self.unsaid = 0  # of those, not yet reported

    @property
    def connected(self) -> bool:
        return self.down_since is None

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_connection_error(record):
            return True
        now = self.clock()
        with self.lock:
            self.last_error = now
            self.count += 1
            if self.down_since is None:
                self.down_since = self.last_said = now
                text = record.getMessage()
                record.msg = "%s (Kafka unreachable: further connection errors are counted)"
                record.args = (text,)
                return True
            self.unsaid += 1
            return False

    def reachable(self) -> str | None:
        """Kafka answered (the group gave an assignment): the errors have stopped now."""
        now = self.clock()
        with self.lock:
            if self.down_since is not None:
                self.answered = now
            self.last_error = now - self.quiet_s
        return self.tick()

    def tick(self) -> str | None:
        """Log (and return) a line when the errors have stopped for ``quiet_s`` or, while they
        go on, every ``remind_s``."""
        now = self.clock()
        with self.lock:
            if self.down_since is None:
                return None
            if now - self.last_error >= self.quiet_s:
                # the outage ended with the last error, or when Kafka answered
                ended = self.answered if self.answered is not None else self.last_error
                line = (
                    f"Kafka reachable again after {ended - self.down_since:.1f} s; "
                    f"{self.count} connection errors in all"
                )
                self.down_since, self.answered, self.count, self.unsaid = None, None, 0, 0
                level = logging.WARNING
            elif now - self.last_said >= self.remind_s:
                line = (
                    f"Kafka still unreachable after {now - self.down_since:.0f} s: "
                    f"{self.unsaid} more connection errors"
                )
                self.last_said, self.unsaid = now, 0
                level = logging.ERROR
            else:
                return None
        log.log(level, "%s", line)
        return line


def install(filter_: ConnectionLog, logger: logging.Logger | None = None) -> None:
    """Put ``filter_`` on every handler of ``logger`` (the root logger by default), where every
    record passes, whichever logger made it."""
    for handler in (logger or logging.getLogger()).handlers:
        if filter_ not in handler.filters:
            handler.addFilter(filter_)
