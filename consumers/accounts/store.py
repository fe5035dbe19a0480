"""The account store port: what the account service needs kept, and an in-memory store."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from consumers.accounts.model import Account, AccountExists, Grant, SessionRecord


class AccountStore(Protocol):
    def add_account(self, account: Account) -> None:
        """Raises AccountExists when the username or id is taken."""
        ...

    def get(self, account_id: str) -> Account | None: ...
    def by_username(self, username: str) -> Account | None: ...
    def list_accounts(self) -> list[Account]: ...
    def update(self, account_id: str, **fields: Any) -> None:
        """Set ``password_hash``, ``must_change_password``, ``disabled``, ``display_name``
        or ``password_changed_at``."""
        ...

    def add_grant(self, account_id: str, grant: Grant) -> None: ...
    def remove_grant(self, account_id: str, grant: Grant) -> bool: ...
    def add_session(self, rec: SessionRecord) -> None: ...
    def get_session(self, session_hash: str) -> SessionRecord | None: ...
    def touch_session(self, session_hash: str, at: datetime) -> None: ...
    def delete_session(self, session_hash: str) -> None: ...
    def delete_sessions_of(self, account_id: str) -> int: ...
    def add_failure(self, key: str, at: datetime) -> None: ...
    def failures_since(self, key: str, since: datetime) -> list[datetime]: ...
    def clear_failures(self, key: str) -> None: ...


@dataclass
class MemoryAccounts:
    """Accounts in a few dicts, for unit tests and the in-process page tests."""

    accounts: dict[str, Account] = field(default_factory=dict)
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    failures: dict[str, list[datetime]] = field(default_factory=dict)

    def add_account(self, account: Account) -> None:
        if account.account_id in self.accounts or self.by_username(account.username):
            raise AccountExists(f"an account named {account.username!r} already exists")
        self.accounts[account.account_id] = account

    def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def by_username(self, username: str) -> Account | None:
        want = username.lower()
        return next((a for a in self.accounts.values() if a.username.lower() == want), None)

    def list_accounts(self) -> list[Account]:
        return sorted(self.accounts.values(), key=lambda a: a.username)

    def update(self, account_id: str, **fields: Any) -> None:
        self.accounts[account_id] = replace(self.accounts[account_id], **fields)

    def add_grant(self, account_id: str, grant: Grant) -> None:
        a = self.accounts[account_id]
        if grant not in a.grants:
            self.accounts[account_id] = replace(a, grants=(*a.grants, grant))

    def remove_grant(self, account_id: str, grant: Grant) -> bool:
        a = self.accounts[account_id]
        if grant not in a.grants:
            return False
        self.accounts[account_id] = replace(a, grants=tuple(g for g in a.grants if g != grant))
        return True

    def add_session(self, rec: SessionRecord) -> None:
        self.sessions[rec.session_hash] = rec

    def get_session(self, session_hash: str) -> SessionRecord | None:
        return self.sessions.get(session_hash)

    def touch_session(self, session_hash: str, at: datetime) -> None:
        rec = self.sessions.get(session_hash)
        if rec is not None:
            self.sessions[session_hash] = replace(rec, last_seen_at=at)

    def delete_session(self, session_hash: str) -> None:
        self.sessions.pop(session_hash, None)

    def delete_sessions_of(self, account_id: str) -> int:
        mine = [h for h, s in self.sessions.items() if s.account_id == account_id]
        for h in mine:
            del self.sessions[h]
        return len(mine)

    def add_failure(self, key: str, at: datetime) -> None:
        self.failures.setdefault(key, []).append(at)

    def failures_since(self, key: str, since: datetime) -> list[datetime]:
        return [t for t in self.failures.get(key, []) if t > since]

    def clear_failures(self, key: str) -> None:
        self.failures.pop(key, None)
