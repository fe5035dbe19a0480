"""The worker's configuration, built from the settings: the only place where the stream
worker meets ``fengqiao.settings``."""

from __future__ import annotations

import logging
import socket
from dataclasses import fields
from datetime import timedelta

from fengqiao.settings import Settings
from streams.config import RuleParams, WorkerConfig
from streams.linking import DEVELOPMENT_SALT, LinkConfig

log = logging.getLogger("fengqiao.worker")


def rule_params(s: Settings) -> RuleParams:
    return RuleParams(**{f.name: getattr(s, f.name) for f in fields(RuleParams)})


def instance_id(s: Settings) -> str | None:
    """The worker's static-membership id: set, derived (stable across restarts on one host
    and port), or none when static membership is off."""
    if not s.worker_static_membership:
        return None
    return s.worker_instance_id or f"{s.app_id}-{socket.gethostname()}-{s.worker_web_port}"


def link_config(s: Settings) -> LinkConfig:
    salt = s.link_salt.get_secret_value().encode()
    if salt == DEVELOPMENT_SALT and s.linking_enabled:
        # the development salt is in the source: anyone could compute the keys of a phone
        log.warning("link_salt is the development default; set FENGQIAO_LINK_SALT in production")
    return LinkConfig(
        salt=salt,
        horizon=timedelta(days=s.link_horizon_days),
        related_max=s.link_related_max,
        enabled=s.linking_enabled,
    )


def worker_config(s: Settings) -> WorkerConfig:
    return WorkerConfig(
        app_id=s.app_id,
        bootstrap=tuple(s.resolved_bootstrap().split(",")),
        topic_prefix=s.topic_prefix,
        topic_partitions=s.topic_partitions,
        topic_replication=s.topic_replication,
        data_dir=s.worker_data_dir or (s.home / "worker"),
        web_host=s.worker_web_host,
        web_port=s.worker_web_port,
        standby_replicas=s.worker_standby_replicas,
        fetch_min_bytes=s.worker_fetch_min_bytes,
        fetch_max_wait_ms=s.worker_fetch_max_wait_ms,
        delivery_timeout_s=s.worker_delivery_timeout_s,
        intake_batch_max=s.intake_batch_max,
        dedupe_horizon_days=s.dedupe_horizon_days,
        max_future_skew_minutes=s.max_future_skew_minutes,
        watch_tick_seconds=s.watch_tick_seconds,
        clock=s.clock,
        ruleset_path=s.ruleset_path,
        catalogue_path=s.catalogue_path,
        instance_id=instance_id(s),
        session_timeout_s=s.worker_session_timeout_s,
        allow_untested_runtime=s.worker_allow_untested_runtime,
        rules=rule_params(s),
        broker_credentials=s.faust_broker_credentials(),
        linking=link_config(s),
    )
