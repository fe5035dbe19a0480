"""Test helpers for the workbench: an app over the in-memory store, publisher and accounts,
a controllable clock, and logging in the way a browser does (form nonce, cookie)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from consumers.accounts.passwords import Hashing
from consumers.accounts.service import Accounts
from consumers.accounts.store import MemoryAccounts
from consumers.actions import CaseActions
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from consumers.web.app import WorkbenchConfig, create_workbench
from schemas.reference.catalogue import Catalogue, load_catalogue
from tests.casetools import T0, item

A = "yongzhong-street"  # committee A of the tests
B = "puzhou-street"  # committee B
PASSWORD = "Mediate-2026!"  # what a test account chooses at first login


@dataclass
class Clock:
    now: datetime = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class World:
    store: MemoryStore
    publisher: MemoryPublisher
    accounts: Accounts
    catalogue: Catalogue
    clock: Clock
    app: Any
    applied: int = field(default=0)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def sink(self) -> None:
        """Apply what the pages published, as the sink would."""
        new = self.publisher.sent[self.applied :]
        self.applied = len(self.publisher.sent)
        self.store.apply([item(topic, env, i) for i, (topic, _k, env) in enumerate(new)])

    def route(self, *envs: dict[str, Any]) -> None:
        self.store.apply([item("cases.routed", e, i) for i, e in enumerate(envs)])

    def person(
        self, username: str, role: str = "mediator", committees: tuple[str, ...] = (A,)
    ) -> str:
        """A new account with its one-time password (returned)."""
        _acc, secret = self.accounts.create(username, role, committees)
        return secret


def build(config: WorkbenchConfig | None = None) -> World:
    cat = load_catalogue()
    clock = Clock()
    store = MemoryStore()
    publisher = MemoryPublisher()
    accounts = Accounts(MemoryAccounts(), cat.committees.keys(), clock, hashing=Hashing.cheap())

    def is_member(account_id: str, committee_id: str) -> bool:
        acc = accounts.store.get(account_id)
        return acc is not None and committee_id in acc.committees()

    actions = CaseActions(
        store, publisher, {c.id: c.name for c in cat.committees.values()}, clock, is_member
    )
    app = create_workbench(
        store=store,
        actions=actions,
        accounts=accounts,
        catalogue=cat,
        clock=clock,
        config=config or WorkbenchConfig(poll_seconds=1),
    )
    return World(store, publisher, accounts, cat, clock, app)


def form_value(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no field {name} in the page"
    return m.group(1)


def log_in(client: TestClient, username: str, password: str) -> Any:
    page = client.get("/login")
    nonce = form_value(page.text, "login_csrf")
    return client.post(
        "/login", data={"username": username, "password": password, "login_csrf": nonce}
    )


def log_in_and_choose(client: TestClient, username: str, one_time: str, new: str = PASSWORD) -> str:
    """First login: the one-time password, then one's own. Returns the session's CSRF token."""
    r = log_in(client, username, one_time)
    assert r.status_code == 303 and r.headers["location"] == "/password", r.text
    page = client.get("/password")
    csrf = form_value(page.text, "csrf_token")
    r = client.post(
        "/password", data={"csrf_token": csrf, "current": one_time, "new": new, "confirm": new}
    )
    assert r.status_code == 303, r.text
    return csrf
