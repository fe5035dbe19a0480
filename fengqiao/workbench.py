"""Wiring for the mediator workbench: the account service and the web app from Settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from consumers.accounts.ratelimit import LoginLimits
from consumers.accounts.service import Accounts, SessionPolicy
from consumers.accounts.sql import SqlAccounts
from consumers.accounts.store import AccountStore
from fengqiao.settings import Settings
from schemas.reference.catalogue import Catalogue, load_catalogue


def wall_clock() -> datetime:
    return datetime.now(UTC)


def account_service(
    settings: Settings,
    store: AccountStore | Engine,
    catalogue: Catalogue | None = None,
    clock: Any = wall_clock,
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
