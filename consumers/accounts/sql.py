"""The account store on the case store's SQLAlchemy engine (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from consumers.accounts import tables as t
from consumers.accounts.model import Account, AccountExists, Grant, SessionRecord

_FIELDS = {
    "password_hash",
    "must_change_password",
    "disabled",
    "display_name",
    "password_changed_at",
}


class SqlAccounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _grants(self, conn: Any, ids: list[str]) -> dict[str, tuple[Grant, ...]]:
        g = t.account_grants
        rows = conn.execute(
            select(g).where(g.c.account_id.in_(ids)).order_by(g.c.role, g.c.committee_id)
        )
        out: dict[str, list[Grant]] = {}
        for r in rows:
            out.setdefault(r.account_id, []).append(Grant(r.role, r.committee_id or None))
        return {k: tuple(v) for k, v in out.items()}

    def _accounts(self, where: Any) -> list[Account]:
        a = t.accounts
        with self.engine.connect() as conn:
            rows = conn.execute(select(a).where(where).order_by(a.c.username_key)).all()
            grants = self._grants(conn, [r.account_id for r in rows]) if rows else {}
        return [
            Account(
                account_id=r.account_id,
                username=r.username,
                password_hash=r.password_hash,
                created_at=r.created_at,
                display_name=r.display_name,
                must_change_password=bool(r.must_change_password),
                disabled=bool(r.disabled),
                password_changed_at=r.password_changed_at,
                grants=grants.get(r.account_id, ()),
            )
            for r in rows
        ]

    def add_account(self, account: Account) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    t.accounts.insert().values(
                        account_id=account.account_id,
                        username=account.username,
                        username_key=account.username.lower(),
                        display_name=account.display_name,
                        password_hash=account.password_hash,
                        must_change_password=account.must_change_password,
                        disabled=account.disabled,
                        created_at=account.created_at,
                        password_changed_at=account.password_changed_at,
                    )
                )
                for g in account.grants:
                    conn.execute(
                        t.account_grants.insert().values(
                            account_id=account.account_id,
                            role=g.role,
                            committee_id=g.committee_id or "",
                        )
                    )
        except IntegrityError as err:
            raise AccountExists(f"an account named {account.username!r} already exists") from err

    def get(self, account_id: str) -> Account | None:
        found = self._accounts(t.accounts.c.account_id == account_id)
        return found[0] if found else None

    def by_username(self, username: str) -> Account | None:
        found = self._accounts(t.accounts.c.username_key == username.lower())
        return found[0] if found else None

    def list_accounts(self) -> list[Account]:
        return self._accounts(t.accounts.c.account_id.is_not(None))

    def update(self, account_id: str, **fields: Any) -> None:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        with self.engine.begin() as conn:
            conn.execute(
                update(t.accounts).where(t.accounts.c.account_id == account_id).values(**fields)
            )

    def add_grant(self, account_id: str, grant: Grant) -> None:
        g = t.account_grants
        key = and_(
            g.c.account_id == account_id,
            g.c.role == grant.role,
            g.c.committee_id == (grant.committee_id or ""),
        )
        with self.engine.begin() as conn:
            if conn.execute(select(g.c.role).where(key)).first() is None:
                conn.execute(
                    g.insert().values(
                        account_id=account_id,
                        role=grant.role,
                        committee_id=grant.committee_id or "",
                    )
                )

    def remove_grant(self, account_id: str, grant: Grant) -> bool:
        g = t.account_grants
        with self.engine.begin() as conn:
            res = conn.execute(
                delete(g).where(
                    and_(
                        g.c.account_id == account_id,
                        g.c.role == grant.role,
                        g.c.committee_id == (grant.committee_id or ""),
                    )
                )
            )
            return bool(res.rowcount)

    def add_session(self, rec: SessionRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.web_sessions.insert().values(
                    session_hash=rec.session_hash,
                    account_id=rec.account_id,
                    csrf_token=rec.csrf_token,
                    created_at=rec.created_at,
                    last_seen_at=rec.last_seen_at,
                )
            )

    def get_session(self, session_hash: str) -> SessionRecord | None:
        s = t.web_sessions
        with self.engine.connect() as conn:
            r = conn.execute(select(s).where(s.c.session_hash == session_hash)).first()
        if r is None:
            return None
        return SessionRecord(
            r.session_hash, r.account_id, r.csrf_token, r.created_at, r.last_seen_at
        )

    def touch_session(self, session_hash: str, at: datetime) -> None:
        s = t.web_sessions
        with self.engine.begin() as conn:
            conn.execute(update(s).where(s.c.session_hash == session_hash).values(last_seen_at=at))

    def delete_session(self, session_hash: str) -> None:
        s = t.web_sessions
        with self.engine.begin() as conn:
            conn.execute(delete(s).where(s.c.session_hash == session_hash))

    def delete_sessions_of(self, account_id: str) -> int:
        s = t.web_sessions
        with self.engine.begin() as conn:
            return int(conn.execute(delete(s).where(s.c.account_id == account_id)).rowcount or 0)

    def add_failure(self, key: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.login_failures.insert().values(key=key, at=at))

    def failures_since(self, key: str, since: datetime) -> list[datetime]:
        f = t.login_failures
        with self.engine.begin() as conn:
            # Old failures are of no further use: drop them as they are read past.
            conn.execute(delete(f).where(and_(f.c.key == key, f.c.at <= since)))
            rows = conn.execute(select(f.c.at).where(and_(f.c.key == key, f.c.at > since)))
            return [r.at for r in rows]

    def clear_failures(self, key: str) -> None:
        f = t.login_failures
        with self.engine.begin() as conn:
            conn.execute(delete(f).where(f.c.key == key))
