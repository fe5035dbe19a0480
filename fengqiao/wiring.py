"""The case store's services built from the settings: the configs the consumers take, the
catalogue's committees, and the action service. Consumers never read the settings themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from consumers.actions import CaseActions, IsMember
from consumers.api import ApiConfig, wall_clock
from consumers.lifecycle import KafkaPublisherConfig, LifecyclePublisher
from consumers.sink import SinkConfig
from consumers.store import CaseStore
from fengqiao.settings import Settings
from schemas.reference.catalogue import load_catalogue


def committee_names(settings: Settings) -> dict[str, str]:
    """The catalogue's committees, id -> name (Chinese), from the configured catalogue."""
    catalogue = load_catalogue(settings.catalogue_path)
    return {c.id: c.name for c in catalogue.committees.values()}


def publisher_config(settings: Settings) -> KafkaPublisherConfig:
    return KafkaPublisherConfig(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        topic_prefix=settings.topic_prefix,
        ack_timeout_s=settings.api_publish_timeout_s,
        client_config=settings.kafka_client_config(),
    )


def api_config(settings: Settings) -> ApiConfig:
    return ApiConfig(committees=committee_names(settings))


def sink_config(settings: Settings, *, check_committees: bool = True) -> SinkConfig:
    s = settings
    return SinkConfig(
        bootstrap_servers=s.resolved_bootstrap().split(","),
        topic_prefix=s.topic_prefix,
        group_id=s.sink_group_id or f"{s.app_id}-sink",
        instance_id=s.sink_instance_id,
        batch_size=s.sink_batch_size,
        session_timeout_ms=s.sink_session_timeout_ms,
        fetch_max_wait_ms=s.sink_fetch_max_wait_ms,
        fetch_min_bytes=s.sink_fetch_min_bytes,
        retry_initial_s=s.sink_retry_initial_s,
        retry_max_s=s.sink_retry_max_s,
        client_config=s.kafka_client_config(),
        committees=frozenset(committee_names(s)) if check_committees else None,
        max_future_s=s.max_future_skew_minutes * 60,
    )


def configure_sink_runtime(settings: Settings) -> None:
    """The sink process's garbage collector, as the settings say."""
    import gc

    gc.set_threshold(*settings.sink_gc_threshold)


def case_actions(
    settings: Settings,
    store: CaseStore,
    publisher: LifecyclePublisher,
    *,
    clock: Callable[[], datetime] = wall_clock,
    is_member: IsMember | None = None,
) -> CaseActions:
    """The one action service, for the inbox API and the workbench alike."""
    return CaseActions(store, publisher, committee_names(settings), clock, is_member)
