"""Wiring for the mediator workbench: the account service and the web app, from Settings."""

from __future__ import annotations

from collections.abc import Callable
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
from schemas.reference.catalogue import Catalogue, load_catalogue


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


def workbench_config(settings: Settings) -> Any:
    from consumers.web.app import WorkbenchConfig

    s = settings
    return WorkbenchConfig(
        poll_seconds=s.workbench_poll_seconds,
        trust_forwarded_proto=s.trust_forwarded_proto,
        accept_periods={
            "dispute": timedelta(days=s.sla_dispute_days[0]),
            "petition": timedelta(days=s.sla_petition_days[0]),
            "wage_arrears": timedelta(days=s.sla_wage_arrears_days[0]),
        },
        warn_fraction=s.sla_warn_fraction,
        utc_offset_hours=s.metrics_utc_offset_hours,
        min_password_length=s.password_min_length,
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
