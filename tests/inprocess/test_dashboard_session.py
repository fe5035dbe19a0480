"""A wall display stays logged in: the live page's poll keeps a command session alive within
the absolute expiry, while a session that only asks for other answers still times out idle.
And the /metrics token is a secret in the settings and in the dashboard's config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from consumers.accounts.service import Accounts, SessionPolicy
from consumers.accounts.store import MemoryAccounts
from consumers.dashboard import create_app
from consumers.metrics.fold import MetricsSink
from fengqiao.metrics_wiring import command_gate, dashboard_config
from fengqiao.settings import Settings

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=3))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def center(clock: Clock) -> tuple[TestClient, Accounts]:
    accounts = Accounts(MemoryAccounts(), [], clock, sessions=POLICY)
    registry = CollectorRegistry()
    gate = command_gate(accounts, "http://127.0.0.1:8088/login")
    app = create_app(MetricsSink(registry, clock=clock), registry, gate=gate)
    return TestClient(app, follow_redirects=False), accounts


def session(accounts: Accounts, username: str) -> str:
    acc, _pw = accounts.create(username, "command", password="wall-display-2026",
                               must_change_password=False)  # fmt: skip
    token, _rec = accounts.start_session(acc)
    return token


def get(client: TestClient, path: str, token: str) -> int:
    client.cookies.set("fq_session", token)
    try:
        return client.get(path).status_code
    finally:
        client.cookies.clear()


def test_the_live_poll_keeps_a_command_session_until_the_absolute_expiry() -> None:
    clock = Clock()
    client, accounts = center(clock)
    wall, desk = session(accounts, "dapin"), session(accounts, "zhihui")
    assert get(client, "/api/dashboard", wall) == 200
    assert get(client, "/api/risk-history?period=7d", desk) == 200
    # Two and a half hours of polling, far past the 30 minutes idle: the wall stays in.
    for _ in range(150):
        clock.now += timedelta(minutes=1)
        assert get(client, "/api/dashboard", wall) == 200, clock.now - T0
    # The other session asked only for a trend, at the start: it timed out idle as before.
    assert get(client, "/api/risk-history?period=7d", desk) == 401
    assert get(client, "/api/dashboard", desk) == 401
    # The absolute expiry ends the wall's session however often it polls.
    while clock.now - T0 <= POLICY.absolute:
        assert get(client, "/api/dashboard", wall) == 200
        clock.now += timedelta(minutes=1)
    assert get(client, "/api/dashboard", wall) == 401
    assert get(client, "/dashboard", wall) == 303  # to the login


def test_the_other_answers_do_not_extend_a_session_by_themselves() -> None:
    clock = Clock()
    client, accounts = center(clock)
    token = session(accounts, "zhihui")
    for _ in range(31):
        clock.now += timedelta(minutes=1)
        status = get(client, "/api/risk-history?period=30d", token)
    assert status == 401


def test_the_metrics_token_is_a_secret() -> None:
    s = Settings(metrics_token="tok-7f3a9c", metrics_host="10.0.0.5")
    assert "tok-7f3a9c" not in repr(s) and "tok-7f3a9c" not in str(s.model_dump())
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == "tok-7f3a9c"
    cfg = dashboard_config(s)
    assert cfg.metrics_token == "tok-7f3a9c"
    assert "tok-7f3a9c" not in repr(cfg)
    # An empty token is no token: bound beyond loopback, the process refuses to start.
    assert dashboard_config(Settings(metrics_token="")).metrics_token is None
    assert dashboard_config(Settings()).metrics_token is None
