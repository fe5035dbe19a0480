"""Accounts: roles and memberships, password hashing, first-login password change, sessions
(idle and absolute expiry, disable, logout) and login rate limits. The store-facing tests run
against the in-memory store and the SQL store alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.accounts import passwords
from consumers.accounts.model import AccountError, AccountExists, NoSuchAccount
from consumers.accounts.ratelimit import LoginLimits, minutes, retry_after
from consumers.accounts.service import Accounts, LoginRefused, PasswordRefused, SessionPolicy
from consumers.accounts.sql import SqlAccounts
from consumers.accounts.store import AccountStore, MemoryAccounts
from consumers.db import make_engine, upgrade
from schemas.reference.catalogue import load_catalogue
from tests.casetools import T0
from tests.workbenchtools import PASSWORD, A, B, Clock

COMMITTEES = load_catalogue().committees.keys()


@pytest.fixture(params=["memory", "sql", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    if request.param == "memory":
        yield MemoryAccounts()
        return
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'accounts.db'}"
    )
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield SqlAccounts(engine)
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def accounts(store: AccountStore, clock: Clock) -> Accounts:
    return Accounts(
        store,
        COMMITTEES,
        clock,
        sessions=SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12)),
        limits=LoginLimits(per_account=5, per_address=20, window=timedelta(minutes=15)),
        hashing=passwords.Hashing.cheap(),
    )


# --- hashing ---------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id_and_verified() -> None:
    h = passwords.hash_password("Mediate-2026!")
    assert h.startswith("$argon2id$") and "Mediate-2026!" not in h
    assert passwords.verify(h, "Mediate-2026!")
    assert not passwords.verify(h, "mediate-2026!")
    assert not passwords.verify("not a hash", "Mediate-2026!")
    assert passwords.hash_password("Mediate-2026!") != h  # salted


def test_one_time_passwords_are_long_and_unambiguous() -> None:
    seen = {passwords.one_time_password() for _ in range(50)}
    assert len(seen) == 50
    assert all(len(p) == 14 and not set(p) & set("0O1lI") for p in seen)


# --- administration --------------------------------------------------------------------------


def test_create_gives_a_one_time_password_that_must_be_changed(accounts: Accounts) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    assert acc.must_change_password and acc.committees() == (A,)
    assert acc.account_id.startswith("acct-") and "ming" not in acc.account_id  # an id, no name
    stored = accounts.store.by_username("LI.MING")
    assert stored is not None and stored.password_hash != secret
    assert accounts.hashing.verify(stored.password_hash, secret)


def test_only_catalogue_committees_can_be_granted(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="unknown committee 'nowhere-street'"):
        accounts.create("li.ming", "mediator", ["nowhere-street"])
    accounts.create("li.ming", "mediator", [A])
    with pytest.raises(AccountError, match="unknown committee 'x'"):
        accounts.grant("li.ming", "head", "x")


def test_roles_and_committees_must_fit(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="needs --committee"):
        accounts.create("li.ming", "head")
    with pytest.raises(AccountError, match="not bound to a committee"):
        accounts.create("zhihui", "command", [A])
    with pytest.raises(AccountError, match="unknown role 'boss'"):
        accounts.create("li.ming", "boss", [A])
    with pytest.raises(AccountError, match="a username is"):
        accounts.create("李明", "mediator", [A])
    accounts.create("zhihui", "command")
    with pytest.raises(AccountExists):
        accounts.create("ZHIHUI", "command")


def test_grant_and_revoke(accounts: Accounts) -> None:
    accounts.create("li.ming", "mediator", [A])
    acc = accounts.grant("li.ming", "head", A)
    assert acc.heads() == (A,)
    acc = accounts.grant("li.ming", "mediator", B)
    assert acc.committees() == tuple(sorted((A, B)))
    accounts.grant("li.ming", "mediator", B)  # twice is once
    assert len(accounts.account("li.ming").grants) == 3
    acc = accounts.revoke("li.ming", "head", A)
    assert acc.heads() == ()
    with pytest.raises(AccountError, match="does not hold the role head"):
        accounts.revoke("li.ming", "head", A)
    with pytest.raises(NoSuchAccount):
        accounts.grant("nobody", "mediator", A)


def test_members_are_the_active_accounts_of_a_committee(accounts: Accounts) -> None:
    accounts.create("li.ming", "mediator", [A])
    accounts.create("wang.fang", "head", [A, B])
    accounts.create("zhao.lei", "mediator", [B])
    accounts.disable("wang.fang")
    assert [a.username for a in accounts.members(A)] == ["li.ming"]


# --- login and password change ---------------------------------------------------------------


def test_login_with_the_right_password_only(accounts: Accounts) -> None:
    _, secret = accounts.create("li.ming", "mediator", [A])
    assert accounts.authenticate("li.ming", secret, "10.0.0.1").username == "li.ming"
    with pytest.raises(LoginRefused) as err:
        accounts.authenticate("li.ming", "wrong", "10.0.0.1")
    assert err.value.status == 401 and err.value.message_zh == "用户名或密码不正确。"
    with pytest.raises(LoginRefused) as unknown:
        accounts.authenticate("nobody", "wrong", "10.0.0.1")
    assert unknown.value.message_zh == err.value.message_zh  # no hint which part was wrong


def test_changing_the_password_clears_the_first_login_flag(accounts: Accounts) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    token, rec = accounts.start_session(acc)
    other, _ = accounts.start_session(acc)
    accounts.change_password(acc, secret, PASSWORD, PASSWORD, keep_session=rec.session_hash)
    fresh = accounts.account("li.ming")
    assert not fresh.must_change_password
    assert accounts.authenticate("li.ming", PASSWORD, "a").account_id == acc.account_id
    with pytest.raises(LoginRefused):
        accounts.authenticate("li.ming", secret, "a")
    assert accounts.resolve(token) is not None  # this session goes on
    assert accounts.resolve(other) is None  # the others end


@pytest.mark.parametrize(
    ("current", "new", "confirm", "zh"),
    [
        ("wrong", PASSWORD, PASSWORD, "当前密码不正确"),
        (None, PASSWORD, PASSWORD + "x", "不一致"),
        (None, "short1!", "short1!", "至少需要 10 个字符"),
        (None, "li.ming", "li.ming", "至少需要"),
        (None, "li.ming.li.ming", "li.ming.li.ming", None),
        (None, "aaaaaaaaaaaa", "aaaaaaaaaaaa", "过于简单"),
    ],
)
def test_password_rules(
    accounts: Accounts, current: str | None, new: str, confirm: str, zh: str | None
) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    if zh is None:
        accounts.change_password(acc, secret, new, confirm, keep_session=None)
        return
    with pytest.raises(PasswordRefused) as err:
        accounts.change_password(acc, current or secret, new, confirm, keep_session=None)
    assert zh in err.value.message_zh
    assert new not in err.value.message_zh and new not in err.value.message_en


def test_reset_password_forces_a_new_choice_and_ends_sessions(accounts: Accounts) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    accounts.change_password(acc, secret, PASSWORD, PASSWORD, keep_session=None)
    token, _ = accounts.start_session(acc)
    new_secret = accounts.reset_password("li.ming")
    assert accounts.resolve(token) is None
    again = accounts.authenticate("li.ming", new_secret, "a")
    assert again.must_change_password


# --- sessions --------------------------------------------------------------------------------


def test_sessions_expire_when_idle(accounts: Accounts, clock: Clock) -> None:
    acc, _ = accounts.create("li.ming", "mediator", [A])
    token, _ = accounts.start_session(acc)
    clock.advance(minutes=29)
    assert accounts.resolve(token) is not None  # and this request counts as activity
    clock.advance(minutes=29)
    assert accounts.resolve(token) is not None
    clock.advance(minutes=31)
    assert accounts.resolve(token) is None
    assert accounts.resolve(token) is None  # and stays gone


def test_background_polling_does_not_keep_a_session_alive(accounts: Accounts, clock: Clock) -> None:
    acc, _ = accounts.create("li.ming", "mediator", [A])
    token, _ = accounts.start_session(acc)
    for _ in range(10):
        clock.advance(minutes=5)
        found = accounts.resolve(token, touch=False)
    assert found is None  # 50 minutes of polling only: idle


def test_sessions_end_at_the_absolute_limit_even_when_active(
    accounts: Accounts, clock: Clock
) -> None:
    acc, _ = accounts.create("li.ming", "mediator", [A])
    token, _ = accounts.start_session(acc)
    for _ in range(23):
        clock.advance(minutes=30)
        assert accounts.resolve(token) is not None
    clock.advance(minutes=31)
    assert accounts.resolve(token) is None


def test_disabling_ends_sessions_at_once_and_refuses_login(accounts: Accounts) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    token, _ = accounts.start_session(acc)
    assert accounts.disable("li.ming") == 1
    assert accounts.resolve(token) is None
    with pytest.raises(LoginRefused) as err:
        accounts.authenticate("li.ming", secret, "a")
    assert err.value.status == 403 and "停用" in err.value.message_zh
    accounts.enable("li.ming")
    assert accounts.authenticate("li.ming", secret, "a")


def test_logout_ends_the_session_on_the_server(accounts: Accounts) -> None:
    acc, _ = accounts.create("li.ming", "mediator", [A])
    token, rec = accounts.start_session(acc)
    assert accounts.store.get_session(rec.session_hash) is not None
    assert token not in rec.session_hash  # the store keeps only the hash
    accounts.end_session(token)
    assert accounts.resolve(token) is None


def test_expired_sessions_and_old_failures_are_purged_at_the_next_login(
    accounts: Accounts, clock: Clock
) -> None:
    acc, secret = accounts.create("li.ming", "mediator", [A])
    _, old = accounts.start_session(acc)
    with pytest.raises(LoginRefused):
        accounts.authenticate("someone", "wrong", "10.0.0.1")
    clock.advance(hours=1)
    _, new = accounts.start_session(acc)
    assert accounts.store.get_session(old.session_hash) is None
    assert accounts.store.get_session(new.session_hash) is not None
    assert accounts.store.failures_since("address:10.0.0.1", clock.now - timedelta(days=1)) == []


# --- rate limits -----------------------------------------------------------------------------


def test_failed_logins_are_limited_per_account(accounts: Accounts, clock: Clock) -> None:
    _, secret = accounts.create("li.ming", "mediator", [A])
    for i in range(5):
        clock.advance(seconds=10)
        with pytest.raises(LoginRefused) as err:
            accounts.authenticate("li.ming", "wrong", f"10.0.0.{i}")
        assert err.value.status == 401
    with pytest.raises(LoginRefused) as limited:
        accounts.authenticate("li.ming", secret, "10.9.9.9")  # the right password, too late
    assert limited.value.status == 429
    assert limited.value.message_zh == "登录失败次数过多，请 15 分钟后再试。"
    clock.advance(minutes=15)
    assert accounts.authenticate("li.ming", secret, "10.9.9.9")


def test_failed_logins_are_limited_per_address(accounts: Accounts, clock: Clock) -> None:
    _, secret = accounts.create("li.ming", "mediator", [A])
    for i in range(20):
        with pytest.raises(LoginRefused):
            accounts.authenticate(f"guess{i}", "wrong", "10.0.0.7")
    with pytest.raises(LoginRefused) as limited:
        accounts.authenticate("li.ming", secret, "10.0.0.7")
    assert limited.value.status == 429
    assert accounts.authenticate("li.ming", secret, "10.0.0.8")  # another address is fine


def test_a_successful_login_clears_the_account_count(accounts: Accounts) -> None:
    _, secret = accounts.create("li.ming", "mediator", [A])
    for _ in range(4):
        with pytest.raises(LoginRefused):
            accounts.authenticate("li.ming", "wrong", "a")
    accounts.authenticate("li.ming", secret, "a")
    for _ in range(4):
        with pytest.raises(LoginRefused) as err:
            accounts.authenticate("li.ming", "wrong", "a")
        assert err.value.status == 401


def test_retry_after_is_when_enough_failures_leave_the_window() -> None:
    w = timedelta(minutes=15)
    fails = [T0 + timedelta(minutes=m) for m in (0, 1, 2)]
    assert retry_after(fails, 4, w, T0 + timedelta(minutes=3)) is None
    assert retry_after(fails, 3, w, T0 + timedelta(minutes=3)) == timedelta(minutes=12)
    assert retry_after(fails, 3, w, T0 + timedelta(minutes=15, seconds=1)) is None
    assert minutes(timedelta(seconds=61)) == 2 and minutes(timedelta(seconds=1)) == 1
