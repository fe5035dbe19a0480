"""Wiring for the mediator workbench: the account service and the web app, from Settings."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from consumers.accounts.ratelimit import LoginLimits
from consumers.accounts.service import Accounts, SessionPolicy
from consumers.accounts.sql import SqlAccounts
from consumers.accounts.store import AccountStore
from consumers.lifecycle import LifecyclePublisher
from consumers.store import CaseStore
from fengqiao.settings import Settings
from fengqiao.wiring import case_actions
from schemas.errors import PublishError
from schemas.reference.catalogue import Catalogue, load_catalogue

log = logging.getLogger("fengqiao.workbench")


def wall_clock() -> datetime:
    return datetime.now(UTC)


def account_service(
    settings: Settings,
    store: AccountStore | Engine,
    catalogue: Catalogue | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> Accounts:
    cat = catalogue or load_catalogue(settings.catalogue_path)
    backing = SqlAccounts(store) if isinstance(store, Engine) else store
    return Accounts(
        backing,
        cat.committees.keys(),
        clock,
        sessions=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
        limits=LoginLimits(
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_failure_window_minutes),
        ),
        min_password_length=settings.password_min_length,
    )


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str | None  # None: the account was already used, its own password stands


def demo_accounts(accounts: Accounts, committee: str) -> DemoLogin:
    """A head account ``demo-<committee id>`` for every catalogue committee, ``demo-command``
    and ``demo-admin``. All that were never used get one fresh first password for this run (one
    argon2 hash for all: hashing 57 of them would hold up the start), which each person
    replaces at the first login; accounts already used keep the password their user chose."""
    from consumers.accounts.model import Account, Grant
    from consumers.accounts.passwords import one_time_password

    secret = one_time_password()
    hashed = accounts.hashing.hash(secret)
    wanted = [(f"demo-{c}", Grant("head", c)) for c in sorted(accounts.known_committees)]
    wanted.append(("demo-command", Grant("command", None)))
    wanted.append(("demo-admin", Grant("admin", None)))
    untouched: set[str] = set()
    for username, grant in wanted:
        acc = accounts.store.by_username(username)
        if acc is None:
            accounts.store.add_account(
                Account(
                    account_id="acct-" + secrets.token_hex(5),
                    username=username,
                    password_hash=hashed,
                    created_at=accounts.clock(),
                    must_change_password=True,
                    grants=(grant,),
                )
            )
            untouched.add(username)
        elif acc.must_change_password and not acc.disabled:
            accounts.store.update(acc.account_id, password_hash=hashed)
            untouched.add(username)
    shown = f"demo-{committee}"
    return DemoLogin(shown, secret if shown in untouched else None)


class StoreClock:
    """'Now' as the newest routed case's time, for ``FENGQIAO_CLOCK=stream`` (the simulated
    year of ``make up`` runs in 2022: by the wall clock every case would be years late)."""

    def __init__(self, engine: Engine, every_s: float = 1.0) -> None:
        self.engine, self.every_s = engine, every_s
        self._now: datetime | None = None
        self._read_at = 0.0

    def __call__(self) -> datetime:
        from sqlalchemy import func, select

        from consumers import tables

        if self._now is None or time.monotonic() - self._read_at > self.every_s:
            with self.engine.connect() as conn:
                latest = conn.execute(select(func.max(tables.cases.c.routed_at))).scalar()
            self._now = tables.UtcDateTime().process_result_value(latest, self.engine.dialect)
            self._read_at = time.monotonic()
        return self._now or wall_clock()


class BackgroundPublisher:
    """The lifecycle publisher, connected in the background: while Kafka is unreachable at
    start the pages still serve (reads need only the case store), an action answers that the
    broker did not acknowledge, and /readyz says why; kafka-python's producer would otherwise
    block the start for a minute and then end it with a traceback."""

    def __init__(self, connect: Callable[[], LifecyclePublisher], retry_s: float = 5.0) -> None:
        self._connect, self._retry_s = connect, retry_s
        self._inner: LifecyclePublisher | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher-connect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._inner = self._connect()
                return
            except Exception as err:  # noqa: BLE001 - any failure: try again, say which
                log.warning("the broker is not reachable yet (%s); retrying", type(err).__name__)
                self._stop.wait(self._retry_s)

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return self._inner is not None

    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        inner = self._inner
        if inner is None:
            raise PublishError("not connected to the broker yet")
        inner.publish(topic, key, value)

    def ready(self) -> str | None:
        inner = self._inner
        return "not connected to the broker yet" if inner is None else inner.ready()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._inner is not None:
            self._inner.close()


def workbench_config(settings: Settings) -> Any:
    from consumers.web.app import WorkbenchConfig

    s = settings
    return WorkbenchConfig(
        poll_seconds=s.workbench_poll_seconds,
        trust_forwarded_proto=s.trust_forwarded_proto,
        trust_forwarded_for=s.trust_forwarded_for,
        accept_periods={
            "dispute": timedelta(days=s.sla_dispute_days[0]),
            "petition": timedelta(days=s.sla_petition_days[0]),
            "wage_arrears": timedelta(days=s.sla_wage_arrears_days[0]),
        },
        warn_fraction=s.sla_warn_fraction,
        utc_offset_hours=s.metrics_utc_offset_hours,
        min_password_length=s.password_min_length,
        dashboard_url=f"http://{s.metrics_host}:{s.metrics_port}/dashboard",
    )


def create_workbench_app(
    settings: Settings,
    store: CaseStore,
    publisher: LifecyclePublisher,
    accounts: Accounts,
    *,
    catalogue: Catalogue | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> Any:
    from consumers.web.app import create_workbench

    cat = catalogue or load_catalogue(settings.catalogue_path)

    def is_member(account_id: str, committee_id: str) -> bool:
        acc = accounts.store.get(account_id)
        return acc is not None and not acc.disabled and committee_id in acc.committees()

    actions = case_actions(settings, store, publisher, clock=clock, is_member=is_member)
    return create_workbench(
        store=store,
        actions=actions,
        accounts=accounts,
        catalogue=cat,
        clock=clock,
        config=workbench_config(settings),
    )
