"""API keys of the HTTP gateway and its idempotency records, in a small SQLAlchemy database.

A key is shown once when created and stored only as its SHA-256 (keys are 256 random bits, so
an unsalted hash cannot be brute-forced). Each key is bound to one event ``source``.
Self-contained on purpose: the case store in ``consumers/`` is a separate database.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from schemas.errors import FengqiaoError

KEY_PREFIX = "fq_"


class KeyStoreUnavailable(FengqiaoError):
    """The key and idempotency database did not answer."""


class _Base(DeclarativeBase):
    pass


class ApiKeyRow(_Base):
    __tablename__ = "gateway_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AcceptedRow(_Base):
    """One accepted request per (source, idempotency key): a replay returns the same event id."""

    __tablename__ = "gateway_accepted"
    __table_args__ = (UniqueConstraint("source", "idem_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    idem_key: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(200))
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


_KEYS_TABLE = ApiKeyRow.__table__
_ACCEPTED_TABLE = AcceptedRow.__table__  # Core statements: see lookup_many
_KEYS_BY_HASH = select(_KEYS_TABLE).where(
    _KEYS_TABLE.c.key_hash.in_(bindparam("hashes", expanding=True))
)
_ACCEPTED = select(_ACCEPTED_TABLE.c.idem_key, _ACCEPTED_TABLE.c.event_id).where(
    _ACCEPTED_TABLE.c.source == bindparam("source"),
    _ACCEPTED_TABLE.c.idem_key.in_(bindparam("keys", expanding=True)),
)


@dataclass(frozen=True)
class ApiKey:
    id: int
    source: str
    hint: str
    created_at: datetime
    revoked: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class _SqliteHotPath:
    """The gateway's per-request queries on one kept SQLite connection, in plain DB-API.

    SQLAlchemy's execution machinery costs about 40 µs a statement, four times the query
    itself, and these run once per request. The datetime conversions are still SQLAlchemy's
    own, so the rows are the same as the ORM writes. Used only from the gateway's event loop.
    """

    _KEYS = "SELECT id, key_hash, hint, source, created_at, revoked_at FROM gateway_api_keys"
    _ACCEPTED = "SELECT idem_key, event_id FROM gateway_accepted WHERE source = ? AND idem_key"
    _INSERT = (
        "INSERT INTO gateway_accepted (source, idem_key, event_id, accepted_at) VALUES (?, ?, ?, ?)"
    )

    def __init__(self, engine: Any) -> None:
        self._conn = engine.raw_connection()
        dialect = engine.dialect
        # the type of every timestamp column here, as this dialect stores it
        stamp = DateTime(timezone=True).dialect_impl(dialect)
        self._to_db: Callable[[Any], Any] = stamp.bind_processor(dialect) or (lambda v: v)
        self._from_db: Callable[[Any], Any] = stamp.result_processor(dialect, None) or (lambda v: v)

    @staticmethod
    def _marks(n: int) -> str:
        return "(" + ",".join("?" * n) + ")"

    def _select(self, sql: str, params: list[Any]) -> list[Any]:
        try:
            cur = self._conn.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall())
            finally:
                cur.close()
        except sqlite3.Error as err:
            raise KeyStoreUnavailable(
                f"the key store did not answer: {type(err).__name__}"
            ) from err

    def ping(self) -> None:
        self._select("SELECT 1", [])

    def keys(self, hashes: list[str]) -> dict[str, ApiKey | None]:
        """{key hash: active key record, or None when revoked} for the hashes found."""
        sql = f"{self._KEYS} WHERE key_hash IN {self._marks(len(hashes))}"
        out: dict[str, ApiKey | None] = {}
        for id_, key_hash, hint, source, created, revoked in self._select(sql, hashes):
            created_at: datetime = self._from_db(created)
            if created_at.tzinfo is None:  # SQLite keeps no offset; we always write UTC
                created_at = created_at.replace(tzinfo=UTC)
            out[key_hash] = None if revoked else ApiKey(id_, source, hint, created_at, False)
        return out

    def accepted(self, source: str, keys: list[str]) -> dict[str, str]:
        sql = f"{self._ACCEPTED} IN {self._marks(len(keys))}"
        return dict(self._select(sql, [source, *keys]))

    def insert(self, rows: list[tuple[str, str, str]], now: datetime) -> bool:
        """Insert all rows in one commit; False (nothing written) when a key is taken."""
        stamp = self._to_db(now)
        cur = self._conn.cursor()
        try:
            cur.executemany(self._INSERT, [(s, k, e, stamp) for s, k, e in rows])
            self._conn.commit()
        except sqlite3.IntegrityError:
            self._conn.rollback()
            return False
        except sqlite3.Error as err:
            self._conn.rollback()
            raise KeyStoreUnavailable(
                f"the key store did not answer: {type(err).__name__}"
            ) from err
        finally:
            cur.close()
        return True

    def close(self) -> None:
        self._conn.close()


class KeyStore:
    def __init__(self, url: str) -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _wal(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=5000")
                # Kafka holds the events; losing the last idempotency records on a power cut
                # only lets a retry through, which the worker's dedupe then drops.
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        # A local file answers faster than a thread hand-off; a server does not.
        self.is_local = url.startswith("sqlite")
        _Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._hot: _SqliteHotPath | None = None

    def _hot_path(self) -> _SqliteHotPath | None:
        if self.is_local and self._hot is None:
            try:
                self._hot = _SqliteHotPath(self.engine)
            except (sqlite3.Error, SQLAlchemyError) as err:
                raise KeyStoreUnavailable(
                    f"cannot open the key store: {type(err).__name__}"
                ) from err
        return self._hot

    def session(self) -> Session:
        return self._session()

    def create(self, source: str) -> tuple[ApiKey, str]:
        """A new key for ``source``: (its record, the key itself, to be shown once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(
            key_hash=hash_key(key),
            hint=key[:7],
            source=source,
            created_at=datetime.now(UTC),
        )
        with self.session() as s, s.begin():
            s.add(row)
        return self._public(row), key

    def lookup(self, key: str) -> ApiKey | None:
        """The active key record for a presented key, or None."""
        with self.session() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key)))
        if row is None or row.revoked_at is not None:
            return None
        return self._public(row)

    def lookup_many(self, keys: list[str]) -> list[ApiKey | None]:
        """``lookup`` for many presented keys in one query (the gateway's group reads).

        Core statements on a plain connection: at a thousand requests a second the ORM's
        session and identity map would cost more than the query itself.
        """
        hashed = [hash_key(k) for k in keys]
        hot = self._hot_path()
        if hot is not None:
            found = hot.keys(sorted(set(hashed)))
            return [found.get(h) for h in hashed]
        with self.engine.connect() as conn:
            rows = {
                r.key_hash: r for r in conn.execute(_KEYS_BY_HASH, {"hashes": list(set(hashed))})
            }
        out: list[ApiKey | None] = []
        for h in hashed:
            row = rows.get(h)
            out.append(None if row is None or row.revoked_at is not None else self._public(row))
        return out

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if self._hot is not None:  # the connection requests use
            self._hot.ping()

    def all_keys(self) -> list[ApiKey]:
        with self.session() as s:
            return [self._public(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke(self, key_id: int) -> bool:
        with self.session() as s, s.begin():
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                return False
            row.revoked_at = row.revoked_at or datetime.now(UTC)
        return True

    def accepted(self, source: str, idem_key: str) -> str | None:
        """The event id already accepted under this idempotency key, if any."""
        with self.session() as s:
            return s.scalar(
                select(AcceptedRow.event_id).where(
                    AcceptedRow.source == source, AcceptedRow.idem_key == idem_key
                )
            )

    def remember(self, source: str, idem_key: str, event_id: str) -> str:
        """Record an accepted event; returns the event id that holds the key (first wins)."""
        try:
            with self.session() as s, s.begin():
                s.add(
                    AcceptedRow(
                        source=source,
                        idem_key=idem_key,
                        event_id=event_id,
                        accepted_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            return self.accepted(source, idem_key) or event_id
        return event_id

    def accepted_many(self, source: str, idem_keys: list[str]) -> dict[str, str]:
        """{idempotency key: event id} of the keys accepted before."""
        found: dict[str, str] = {}
        with self.session() as s:
            for i in range(0, len(idem_keys), 500):
                chunk = idem_keys[i : i + 500]
                rows = s.execute(
                    select(AcceptedRow.idem_key, AcceptedRow.event_id).where(
                        AcceptedRow.source == source, AcceptedRow.idem_key.in_(chunk)
                    )
                )
                found.update({k: e for k, e in rows})
        return found

    def remember_many(self, source: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
        """Record (idempotency key, event id) pairs in one transaction; {key: holder id}."""
        if not pairs:
            return {}
        now = datetime.now(UTC)
        try:
            with self.session() as s, s.begin():
                s.add_all(
                    AcceptedRow(source=source, idem_key=k, event_id=e, accepted_at=now)
                    for k, e in pairs
                )
        except IntegrityError:  # a concurrent request won for some key: one at a time
            return {k: self.remember(source, k, e) for k, e in pairs}
        return dict(pairs)

    def accepted_pairs(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """{(source, idempotency key): event id} of the pairs accepted before, any sources."""
        by_source: dict[str, list[str]] = {}
        for source, k in pairs:
            by_source.setdefault(source, []).append(k)
        found: dict[tuple[str, str], str] = {}
        hot = self._hot_path()
        for source, ks in by_source.items():
            for i in range(0, len(ks), 500):
                chunk = ks[i : i + 500]
                if hot is not None:
                    got = hot.accepted(source, chunk)
                else:
                    with self.engine.connect() as conn:
                        got = dict(conn.execute(_ACCEPTED, {"source": source, "keys": chunk}).all())
                found.update({(source, k): e for k, e in got.items()})
        return found

    def remember_pairs(self, rows: list[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
        """Record (source, key, event id) rows in one transaction; {(source, key): holder id}.

        One bulk insert and one commit however many requests the rows came from; when another
        gateway process won a key meanwhile, falls back to one row at a time (first wins).
        """
        if not rows:
            return {}
        now = datetime.now(UTC)
        hot = self._hot_path()
        if hot is not None:
            if hot.insert(rows, now):
                return {(src, k): e for src, k, e in rows}
            return {(src, k): self.remember(src, k, e) for src, k, e in rows}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(AcceptedRow),
                    [
                        {"source": src, "idem_key": k, "event_id": e, "accepted_at": now}
                        for src, k, e in rows
                    ],
                )
        except IntegrityError:
            return {(src, k): self.remember(src, k, e) for src, k, e in rows}
        return {(src, k): e for src, k, e in rows}

    def forget_older_than(self, horizon: timedelta, chunk: int = 5000) -> int:
        """Delete records older than ``horizon``, ``chunk`` rows per transaction, so the
        gateway's writes never wait long for the lock."""
        cutoff = datetime.now(UTC) - horizon
        dropped = 0
        while True:
            old = select(AcceptedRow.id).where(AcceptedRow.accepted_at < cutoff).limit(chunk)
            with self.session() as s, s.begin():
                result = s.execute(delete(AcceptedRow).where(AcceptedRow.id.in_(old)))
            n = int(result.rowcount or 0)  # type: ignore[attr-defined]
            dropped += n
            if n < chunk:
                return dropped

    def close(self) -> None:
        if self._hot is not None:
            self._hot.close()
            self._hot = None
        self.engine.dispose()

    @staticmethod
    def _public(row: Any) -> ApiKey:
        """The public record of an ORM row or a Core row (same column names)."""
        created = row.created_at
        if created.tzinfo is None:  # SQLite keeps no offset; we always write UTC
            created = created.replace(tzinfo=UTC)
        return ApiKey(row.id, row.source, row.hint, created, row.revoked_at is not None)
