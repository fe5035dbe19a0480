"""What an account is: its roles per committee, and the records the account store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.errors import FengqiaoError

# mediator: works the cases of their committees; head: also assigns within them;
# command: the command center, aggregates only; admin: manages accounts.
ROLES: tuple[str, ...] = ("mediator", "head", "command", "admin")
COMMITTEE_ROLES: tuple[str, ...] = ("mediator", "head")
GLOBAL_ROLES: tuple[str, ...] = ("command", "admin")

ROLE_LABELS_ZH = {
    "mediator": "调解员",
    "head": "调委会主任",
    "command": "指挥中心",
    "admin": "管理员",
}
ROLE_LABELS_EN = {"mediator": "mediator", "head": "head", "command": "command", "admin": "admin"}


class AccountError(FengqiaoError):
    """An account operation was refused; the message says why (never a password)."""


class AccountExists(AccountError):
    pass


class NoSuchAccount(AccountError):
    pass


@dataclass(frozen=True, slots=True)
class Grant:
    """One role: committee roles name their committee, global roles name none."""

    role: str
    committee_id: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str  # what lifecycle events carry as ``actor``: never a name
    username: str
    password_hash: str
    created_at: datetime
    display_name: str | None = None
    must_change_password: bool = True
    disabled: bool = False
    password_changed_at: datetime | None = None
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def committees(self) -> tuple[str, ...]:
        """The committees whose cases this person works (as mediator or head), sorted."""
        return tuple(sorted({g.committee_id for g in self.grants if g.committee_id is not None}))

    def heads(self) -> tuple[str, ...]:
        return tuple(
            sorted({g.committee_id for g in self.grants if g.role == "head" and g.committee_id})
        )

    def has(self, role: str) -> bool:
        return any(g.role == role for g in self.grants)

    @property
    def is_command(self) -> bool:
        return self.has("command")

    @property
    def is_admin(self) -> bool:
        return self.has("admin")

    @property
    def works_cases(self) -> bool:
        return bool(self.committees())


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A login, kept on the server: the cookie holds a random token, the store its hash."""

    session_hash: str
    account_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
