"""The account rules: who may log in, for how long, with which roles.

Every "now" comes from the injected clock. Messages a person reads come in Chinese and
English; none of them ever contains a password, and the only values they name are the
username and committee ids an administrator typed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from consumers.accounts import passwords
from consumers.accounts.model import (
    COMMITTEE_ROLES,
    ROLES,
    Account,
    AccountError,
    Grant,
    NoSuchAccount,
    SessionRecord,
)
from consumers.accounts.ratelimit import LoginLimits, minutes, retry_after
from consumers.accounts.store import AccountStore

Clock = Callable[[], datetime]
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    # A request refreshes ``last_seen_at`` at most this often: fewer writes, same expiry.
    touch_every: timedelta = timedelta(seconds=30)


class LoginRefused(AccountError):
    """A login did not succeed; ``status`` is 401 (wrong credentials), 403 (disabled) or
    429 (too many failures)."""

    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.message_zh, self.message_en = status, zh, en

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


class PasswordRefused(AccountError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.message_zh, self.message_en = zh, en

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


def session_hash(token: str) -> str:
    # The token carries 256 random bits: a fast hash is enough to keep it out of the database.
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        committees: Collection[str],
        clock: Clock,
        sessions: SessionPolicy | None = None,
        limits: LoginLimits | None = None,
        min_password_length: int = passwords.MIN_LENGTH,
        hashing: passwords.Hashing = passwords.DEFAULT,
    ) -> None:
        self.hashing = hashing
        self.store = store
        self.known_committees = frozenset(committees)
        self.clock = clock
        self.sessions = sessions or SessionPolicy()
        self.limits = limits or LoginLimits()
        self.min_password_length = min_password_length

    # --- administration -----------------------------------------------------------------

    def _grant_for(self, role: str, committee: str | None) -> Grant:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        if role in COMMITTEE_ROLES:
            if not committee:
                raise AccountError(f"the role {role} needs --committee (a catalogue committee id)")
            if committee not in self.known_committees:
                raise AccountError(
                    f"unknown committee {committee!r}: only committees of the catalogue can be "
                    "granted (`fengqiao users committees` lists them)"
                )
            return Grant(role, committee)
        if committee:
            raise AccountError(
                f"the role {role} is not bound to a committee; leave out --committee"
            )
        return Grant(role, None)

    def account(self, username: str) -> Account:
        found = self.store.by_username(username.strip())
        if found is None:
            raise NoSuchAccount(f"no account named {username.strip()!r}")
        return found

    def create(
        self,
        username: str,
        role: str,
        committees: Collection[str] = (),
        display_name: str | None = None,
        password: str | None = None,
        must_change_password: bool = True,
    ) -> tuple[Account, str]:
        """A new account and its one-time password (to hand over once; only its hash is kept).
        ``password`` is for demo accounts only; real accounts get a generated one."""
        username = username.strip().lower()  # logins are case-insensitive
        if not USERNAME.match(username):
            raise AccountError(
                "a username is 2-64 characters: lower-case letters, digits and . _ - "
                "(it starts with a letter or digit)"
            )
        grants = (
            [self._grant_for(role, c) for c in committees]
            if committees
            else [self._grant_for(role, None)]
        )
        secret = password or passwords.one_time_password()
        if password is not None:
            self._check_password(secret, username)
        acc = Account(
            account_id="acct-" + secrets.token_hex(5),
            username=username,
            password_hash=self.hashing.hash(secret),
            created_at=self.clock(),
            display_name=(display_name or "").strip() or None,
            must_change_password=must_change_password,
            grants=tuple(dict.fromkeys(grants)),
        )
        self.store.add_account(acc)
        return acc, secret

    def grant(self, username: str, role: str, committee: str | None = None) -> Account:
        acc = self.account(username)
        self.store.add_grant(acc.account_id, self._grant_for(role, committee))
        return self.account(username)

    def revoke(self, username: str, role: str, committee: str | None = None) -> Account:
        acc = self.account(username)
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        grant = Grant(role, committee or None)
        if not self.store.remove_grant(acc.account_id, grant):
            where = f" in committee {committee}" if committee else ""
            raise AccountError(f"{acc.username} does not hold the role {role}{where}")
        return self.account(username)

    def disable(self, username: str) -> int:
        """Disable the account and end its sessions at once; returns how many were ended."""
        acc = self.account(username)
        self.store.update(acc.account_id, disabled=True)
        return self.store.delete_sessions_of(acc.account_id)

    def enable(self, username: str) -> None:
        self.store.update(self.account(username).account_id, disabled=False)

    def reset_password(self, username: str) -> str:
        """A new one-time password; the person must choose their own at the next login."""
        acc = self.account(username)
        secret = passwords.one_time_password()
        self.store.update(
            acc.account_id,
            password_hash=self.hashing.hash(secret),
            must_change_password=True,
        )
        self.store.delete_sessions_of(acc.account_id)
        self.store.clear_failures(self._account_key(acc.username))
        return secret

    def members(self, committee_id: str) -> list[Account]:
        """The active accounts that work ``committee_id``'s cases (for assignment)."""
        return [
            a
            for a in self.store.list_accounts()
            if not a.disabled and committee_id in a.committees()
        ]

    # --- login --------------------------------------------------------------------------

    @staticmethod
    def _account_key(username: str) -> str:
        return f"account:{username.strip().lower()}"

    @staticmethod
    def _address_key(address: str) -> str:
        return f"address:{address}"

    def _limited(self, key: str, limit: int, now: datetime) -> timedelta | None:
        window = self.limits.window
        return retry_after(self.store.failures_since(key, now - window), limit, window, now)

    def authenticate(self, username: str, password: str, address: str) -> Account:
        """The account, when the password is right and neither limit is reached."""
        now = self.clock()
        akey, ikey = self._account_key(username), self._address_key(address)
        wait = self._limited(akey, self.limits.per_account, now) or self._limited(
            ikey, self.limits.per_address, now
        )
        if wait is not None:
            n = minutes(wait)
            raise LoginRefused(
                429,
                f"登录失败次数过多，请 {n} 分钟后再试。",
                f"Too many failed logins; try again in {n} minute{'s' if n > 1 else ''}.",
            )
        name = username.strip().lower()
        acc = self.store.by_username(name) if USERNAME.match(name) else None
        ok = self.hashing.verify(acc.password_hash if acc else self.hashing.dummy(), password)
        if acc is None or not ok:
            self.store.add_failure(akey, now)
            self.store.add_failure(ikey, now)
            raise LoginRefused(401, "用户名或密码不正确。", "The username or password is wrong.")
        if acc.disabled:
            raise LoginRefused(
                403,
                "该账号已停用，请联系管理员。",
                "This account is disabled; ask an administrator.",
            )
        self.store.clear_failures(akey)
        if self.hashing.needs_rehash(acc.password_hash):
            self.store.update(acc.account_id, password_hash=self.hashing.hash(password))
        return acc

    def _check_password(self, new: str, username: str) -> None:
        why = passwords.problem(new, username, self.min_password_length)
        if why is not None:
            raise PasswordRefused(*why)

    def change_password(
        self, account: Account, current: str, new: str, confirm: str, keep_session: str | None
    ) -> None:
        """Set the person's own password; their other sessions end."""
        fresh = self.store.get(account.account_id)
        if fresh is None or not self.hashing.verify(fresh.password_hash, current):
            raise PasswordRefused("当前密码不正确。", "The current password is wrong.")
        if new != confirm:
            raise PasswordRefused("两次输入的新密码不一致。", "The two new passwords differ.")
        if new == current:
            raise PasswordRefused(
                "新密码不能与当前密码相同。", "The new password must differ from the current one."
            )
        self._check_password(new, account.username)
        self.store.update(
            account.account_id,
            password_hash=self.hashing.hash(new),
            must_change_password=False,
            password_changed_at=self.clock(),
        )
        kept = self.store.get_session(keep_session) if keep_session else None
        self.store.delete_sessions_of(account.account_id)
        if kept is not None:
            self.store.add_session(kept)

    # --- sessions -----------------------------------------------------------------------

    def start_session(self, account: Account) -> tuple[str, SessionRecord]:
        """(the cookie's token, the record kept on the server)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        rec = SessionRecord(
            session_hash(token), account.account_id, secrets.token_urlsafe(32), now, now
        )
        self.store.add_session(rec)
        return token, rec

    def resolve(
        self, token: str | None, touch: bool = True
    ) -> tuple[Account, SessionRecord] | None:
        """The live session behind a cookie, or None (unknown, expired, or account disabled).
        ``touch=False`` for background polling, which must not keep an idle session alive."""
        if not token:
            return None
        h = session_hash(token)
        rec = self.store.get_session(h)
        if rec is None:
            return None
        now = self.clock()
        if (
            now - rec.last_seen_at > self.sessions.idle
            or now - rec.created_at > self.sessions.absolute
        ):
            self.store.delete_session(h)
            return None
        acc = self.store.get(rec.account_id)
        if acc is None or acc.disabled:
            self.store.delete_sessions_of(rec.account_id)
            return None
        if touch and now - rec.last_seen_at >= self.sessions.touch_every:
            self.store.touch_session(h, now)
        return acc, rec

    def end_session(self, token: str | None) -> None:
        if token:
            self.store.delete_session(session_hash(token))
