"""The monitoring sink's typed configuration, built from the settings (the composition root's
side of ``consumers.metrics.config`` and ``consumers.dashboard.DashboardConfig``), and the
command center's login gate over the workbench's accounts and sessions."""

from __future__ import annotations

from datetime import timedelta

from consumers.accounts.service import Accounts
from consumers.dashboard import DashboardConfig, Gate
from consumers.metrics.config import FeedConfig, FoldConfig, KafkaAccess
from fengqiao.settings import Settings


def kafka_access(s: Settings) -> KafkaAccess:
    return KafkaAccess(
        bootstrap_servers=tuple(s.resolved_bootstrap().split(",")),
        topic_prefix=s.topic_prefix,
        client_config=s.kafka_client_config(),
    )


def fold_config(s: Settings) -> FoldConfig:
    return FoldConfig(
        wall_clock=s.clock == "wall",
        dedupe_horizon=timedelta(days=s.dedupe_horizon_days),
        utc_offset=timedelta(hours=s.metrics_utc_offset_hours),
        feed_size=s.metrics_feed_size,
    )


def feed_config(s: Settings) -> FeedConfig:
    return FeedConfig(
        kafka=kafka_access(s),
        worker_group=s.metrics_worker_group or s.app_id,
        from_beginning=s.metrics_from_beginning,
        lag_interval_s=s.metrics_lag_interval_s,
        # Several lag intervals without a poll or a broker answer: not a passing hiccup.
        stale_after_s=max(30.0, 3 * s.metrics_lag_interval_s),
    )


def dashboard_config(s: Settings) -> DashboardConfig:
    return DashboardConfig(
        host=s.metrics_host,
        port=s.metrics_port,
        fold=fold_config(s),
        feed=feed_config(s),
        catalogue_path=s.catalogue_path,
        metrics_token=s.metrics_token.get_secret_value() or None if s.metrics_token else None,
    )


def login_url(s: Settings) -> str:
    return s.command_login_url or f"http://{s.workbench_host}:{s.workbench_port}/login"


def command_gate(accounts: Accounts, url: str) -> Gate:
    """Admits a live workbench session of a command or admin account, nobody else."""

    def allowed(token: str | None, touch: bool) -> bool:
        found = accounts.resolve(token, touch=touch)
        if found is None:
            return False
        account, _session = found
        return not account.must_change_password and (account.is_command or account.is_admin)

    from consumers.web.app import SESSION_COOKIE

    return Gate(allowed=allowed, login_url=url, cookie=SESSION_COOKIE)
