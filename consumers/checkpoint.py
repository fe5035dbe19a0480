"""SQLite's WAL checkpoints in a thread of their own, so the sink's commits seldom pay for them.

By default the connection whose commit takes the write-ahead log past 1,000 pages copies the
log into the database file and syncs it, inside that commit. In the bench the sink writes a
page-heavy case store (about 13 kB a case), so some commits of 60 events took 0.4–0.8 s, which
was the tail of the latency to the case store. ``WalCheckpointer`` runs a PASSIVE checkpoint
from its own connection every half second. A PASSIVE checkpoint never waits for readers or
writers. The commit's own checkpoint then finds only the pages written since, and it still
restarts the log once everything is copied, so the log stays small. A checkpoint run only from
the thread would not do that: under steady writes the log is never fully copied when a writer
begins, so it grew by 150 MB in 15 s in a test.

SQLite only, and only for a file (PostgreSQL has its own checkpointer).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.engine import make_url

log = logging.getLogger("fengqiao.store")

INTERVAL_S = 0.5


class WalCheckpointer:
    """A daemon thread checkpointing the SQLite file at ``path`` every ``interval_s``."""

    def __init__(self, path: str, interval_s: float = INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0  # run, and copied what they could
        self.busy = 0  # found another checkpoint running (a commit's own): nothing done
        self.failures = 0
        # the log's size and how much of it is in the database file, at the last checkpoint run
        self.log_pages = 0
        self.copied_pages = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_url(cls, url: str, interval_s: float = INTERVAL_S) -> WalCheckpointer | None:
        """A checkpointer for a file SQLite URL; ``None`` for any other database."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return None
        path = parsed.database
        if not path or path == ":memory:" or path.startswith("file::memory:"):
            return None
        return cls(path, interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint: copies what it can, waits for nobody."""
        busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy:
            self.busy += 1
            return
        self.checkpoints += 1
        self.log_pages, self.copied_pages = log_pages, copied

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        delay = self.interval_s
        while not self._stop.wait(delay):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=1.0, check_same_thread=False)
                    # a connection that has not read the file yet does not know its log: its
                    # checkpoints would do nothing
                    conn.execute("PRAGMA journal_mode").fetchone()
                self.checkpoint(conn)
                delay = self.interval_s
            except sqlite3.Error as err:
                # the file gone or locked for long: the commits' own checkpoints still run
                self.failures += 1
                log.warning("background WAL checkpoint failed (%s)", type(err).__name__)
                if conn is not None:
                    conn.close()
                    conn = None
                delay = min(max(delay * 2, self.interval_s), 30.0)
        if conn is not None:
            conn.close()
