"""``make up``'s demo accounts: one head per committee and one command account, a fresh first
password per run for the untouched ones, and a used account's own password left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.accounts.passwords import Hashing
from consumers.accounts.service import Accounts, LoginRefused
from consumers.accounts.sql import SqlAccounts
from consumers.db import make_engine, upgrade
from fengqiao.workbench import demo_accounts
from schemas.reference.catalogue import load_catalogue
from tests.workbenchtools import PASSWORD, A, Clock


def test_demo_accounts_per_committee_and_their_first_password(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fq.db'}")
    upgrade(engine)
    cat = load_catalogue()
    accounts = Accounts(
        SqlAccounts(engine), cat.committees.keys(), Clock(), hashing=Hashing.cheap()
    )
    try:
        first = demo_accounts(accounts, A)
        assert first.username == f"demo-{A}" and first.password is not None
        names = {a.username for a in accounts.store.list_accounts()}
        assert names == {f"demo-{c}" for c in cat.committees} | {"demo-command", "demo-admin"}
        demo = accounts.account(f"demo-{A}")
        assert demo.heads() == (A,) and demo.must_change_password
        assert accounts.account("demo-command").is_command
        assert accounts.account("demo-admin").is_admin

        second = demo_accounts(accounts, A)  # the next `make up`: a new first password
        assert second.password not in (None, first.password)
        with pytest.raises(LoginRefused):
            accounts.authenticate(f"demo-{A}", first.password, "a")
        acc = accounts.authenticate(f"demo-{A}", second.password or "", "a")
        accounts.change_password(acc, second.password or "", PASSWORD, PASSWORD, None)

        third = demo_accounts(accounts, A)  # used: its own password stands
        assert third.password is None
        assert accounts.authenticate(f"demo-{A}", PASSWORD, "a")
        assert len(accounts.store.list_accounts()) == len(names)
    finally:
        engine.dispose()


def test_the_publisher_connects_in_the_background_and_actions_wait_for_it() -> None:
    from consumers.lifecycle import MemoryPublisher
    from fengqiao.workbench import BackgroundPublisher
    from schemas.errors import PublishError

    attempts: list[int] = []
    inner = MemoryPublisher()

    def connect() -> MemoryPublisher:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("broker down")
        return inner

    pub = BackgroundPublisher(connect, retry_s=0.05)
    try:
        assert pub.wait(5.0) and len(attempts) == 3
        assert pub.ready() is None
        pub.publish("cases.lifecycle", "c1", {"id": "x"})
        assert inner.sent == [("cases.lifecycle", "c1", {"id": "x"})]
    finally:
        pub.close()

    def down() -> MemoryPublisher:
        raise OSError("broker down")

    never = BackgroundPublisher(down, retry_s=10)
    try:
        assert never.ready() == "not connected to the broker yet"
        with pytest.raises(PublishError):
            never.publish("cases.lifecycle", "c1", {})
    finally:
        never.close()
