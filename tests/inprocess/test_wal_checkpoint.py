"""The sink's background WAL checkpointer, on a real SQLite file: it copies the log into the
database while a writer keeps writing, the log stays small because the writer's own
checkpoints still restart it, and it is only made for a SQLite file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from consumers.checkpoint import WalCheckpointer


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("create table t (id integer primary key, v text)")
    conn.commit()
    return conn


def _write(conn: sqlite3.Connection, batches: int) -> None:
    for _ in range(batches):
        with conn:
            conn.executemany("insert into t (v) values (?)", [("x" * 3000,)] * 50)


def test_the_thread_copies_the_log_while_the_writer_writes_and_the_log_stays_small(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    conn = _writer(path)
    ckpt = WalCheckpointer(str(path), interval_s=0.02)
    ckpt.start()
    try:
        deadline = time.monotonic() + 10
        while (ckpt.checkpoints < 5 or ckpt.copied_pages <= 0) and time.monotonic() < deadline:
            _write(conn, 5)
        assert ckpt.checkpoints >= 5 and ckpt.failures == 0
        # it copied pages of the log into the database file
        assert ckpt.copied_pages > 0
        _write(conn, 400)  # ~60 MB through the log, with the thread checkpointing meanwhile
    finally:
        ckpt.stop()
    # the writer's own checkpoints restart the log: it stays near SQLite's 1,000 pages, not
    # the 60 MB written
    wal = path.with_name("store.db-wal")
    assert wal.stat().st_size < 16 * 1024 * 1024
    assert conn.execute("select count(*) from t").fetchone()[0] >= 20_000
    conn.close()


def test_a_stopped_checkpointer_ends_its_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _writer(path).close()
    ckpt = WalCheckpointer(str(path), interval_s=10.0)
    ckpt.start()
    started = time.monotonic()
    ckpt.stop()
    assert time.monotonic() - started < 2.0
    assert ckpt._thread is not None and not ckpt._thread.is_alive()


@pytest.mark.parametrize(
    ("url", "made"),
    [
        ("sqlite:////var/lib/fengqiao/cases.db", True),
        ("sqlite:///relative/cases.db", True),
        ("sqlite://", False),  # in memory
        ("sqlite:///:memory:", False),
        ("postgresql://fq@db/fengqiao", False),
    ],
)
def test_only_a_sqlite_file_gets_one(url: str, made: bool) -> None:
    ckpt = WalCheckpointer.for_url(url)
    assert (ckpt is not None) is made
    if ckpt is not None:
        assert ckpt.path.endswith("cases.db")
