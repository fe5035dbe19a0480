"""API keys of the HTTP gateway and its idempotency records, in a small SQLAlchemy database.

A key is shown once when created and stored only as its SHA-256 (keys are 256 random bits, so
an unsalted hash cannot be brute-forced). Each key is bound to one event ``source``.
Self-contained on purpose: the case store in ``consumers/`` is a separate database.
"""

from __future__ import annotations

import hashlib
import secrets
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

KEY_PREFIX = "fq_"


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
        hashes = {hash_key(k) for k in keys}
        with self.engine.connect() as conn:
            rows = {r.key_hash: r for r in conn.execute(_KEYS_BY_HASH, {"hashes": list(hashes)})}
        out: list[ApiKey | None] = []
        for k in keys:
            row = rows.get(hash_key(k))
            out.append(None if row is None or row.revoked_at is not None else self._public(row))
        return out

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

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
        with self.engine.connect() as conn:
            for source, ks in by_source.items():
                for i in range(0, len(ks), 500):
                    rows = conn.execute(_ACCEPTED, {"source": source, "keys": ks[i : i + 500]})
                    found.update({(source, k): e for k, e in rows})
        return found

    def remember_pairs(self, rows: list[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
        """Record (source, key, event id) rows in one transaction; {(source, key): holder id}.

        One bulk insert and one commit however many requests the rows came from; when another
        gateway process won a key meanwhile, falls back to one row at a time (first wins).
        """
        if not rows:
            return {}
        now = datetime.now(UTC)
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

    def forget_older_than(self, horizon: timedelta) -> int:
        cutoff = datetime.now(UTC) - horizon
        with self.session() as s, s.begin():
            result = s.execute(delete(AcceptedRow).where(AcceptedRow.accepted_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def _public(row: Any) -> ApiKey:
        """The public record of an ORM row or a Core row (same column names)."""
        created = row.created_at
        if created.tzinfo is None:  # SQLite keeps no offset; we always write UTC
            created = created.replace(tzinfo=UTC)
        return ApiKey(row.id, row.source, row.hint, created, row.revoked_at is not None)
