"""Create the topic catalogue on a cluster (idempotent), and delete a bench or profiling run's
own topics and consumer groups when it ends.

Every topic gets the configured replication and ``min.insync.replicas`` (2 of 3 on a
3-broker cluster): with the producers' acks=all, a write is then on two brokers before it is
acknowledged, and one broker can die without losing it or stopping intake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaAdminClient
from kafka import errors as kafka_errors
from kafka.admin import MemberToRemove, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from fengqiao.settings import Settings
from schemas.topics import TOPICS

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


# what a broker answers for a while after it starts (or its group coordinator moves): the
# consumer-offsets partitions are still being loaded, and asking again shortly succeeds
_COORDINATOR_NOT_READY = (
    kafka_errors.CoordinatorLoadInProgressError,
    kafka_errors.CoordinatorNotAvailableError,
)


class GroupsNotListed(RuntimeError):
    """The cluster's group coordinator did not answer within the time given."""


def list_groups(
    admin: KafkaAdminClient, timeout_s: float = 30.0, pause_s: float = 0.5
) -> dict[str, str | None]:
    """The cluster's consumer groups and their states, ``{group_id: state}``.

    A broker that has just started answers "coordinator load in progress" until it has loaded
    its consumer-offsets partitions; that is asked again every ``pause_s`` for up to
    ``timeout_s``, then raised as ``GroupsNotListed`` saying so."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return {g["group_id"]: g.get("group_state") for g in admin.list_groups()}
        except _COORDINATOR_NOT_READY as err:
            if time.monotonic() >= deadline:
                raise GroupsNotListed(
                    f"the brokers' group coordinator is still not ready after {timeout_s:.0f} s "
                    f"({type(err).__name__}); try again in a minute"
                ) from err
            time.sleep(pause_s)


def _topic_config(settings: Settings, config: dict[str, str]) -> dict[str, str]:
    return {"min.insync.replicas": str(settings.effective_min_insync_replicas()), **config}


def admin_client(settings: Settings, **extra: Any) -> KafkaAdminClient:
    """The project's admin client for the configured cluster (``extra``: kafka-python options)."""
    return KafkaAdminClient(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        client_id="fengqiao-admin",
        **extra,
        **settings.kafka_client_config(),
    )


def create_topics(settings: Settings) -> tuple[list[str], list[str]]:
    """Create missing topics; returns (created, already there)."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=settings.topic(spec.name),
                num_partitions=spec.partitions or settings.topic_partitions,
                replication_factor=settings.topic_replication,
                topic_configs=_topic_config(settings, spec.config()),
            )
            for spec in TOPICS
            if settings.topic(spec.name) not in existing
        ]
        created: list[str] = []
        there = [settings.topic(s.name) for s in TOPICS if settings.topic(s.name) in existing]
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:  # created meanwhile, or a stale topic listing
                there.append(topic.name)
        return created, there
    finally:
        admin.close()


# --- a run's own topics and groups (bench, profiler) ------------------------------------------
# A run names its topics with a fresh prefix and its workers with a fresh app id; faust names
# its changelog, repartition and leader topics "<app id>-…", and the run's consumers use the
# group "<app id>" (the workers) or "<app id>-…" (the sink, the relay). Deleting them when the
# run ends keeps the broker small: one that keeps thousands of partitions from earlier runs
# answers more slowly (the worker's CPU per event rose from 169-182 µs on a fresh broker to
# 220 µs after 350 runs' topics), and a group list of hundreds of dead runs hides the live ones.

# separators a run's prefix may end in: without one, "bench-ab" would also take "bench-abc."
_PREFIX_ENDS = (".", "-", "_")


def _check_app_id(app_id: str) -> None:
    if not app_id:
        raise ValueError("app_id: a run's app id must be non-empty")


def run_topics(names: Iterable[str], topic_prefix: str, app_id: str) -> list[str]:
    """The names among ``names`` that belong to one run: those under its topic prefix and the
    ones its workers made (``<app_id>-…``), sorted. Refuses a prefix that could take another
    run's or the product's topics (empty, or not ending in a separator) and an empty app id."""
    if not topic_prefix or not topic_prefix.endswith(_PREFIX_ENDS):
        raise ValueError("topic_prefix: a run's prefix must be non-empty and end in . - or _")
    _check_app_id(app_id)
    internal = f"{app_id}-"
    return sorted({n for n in names if n.startswith(topic_prefix) or n.startswith(internal)})


def run_groups(names: Iterable[str], app_id: str) -> list[str]:
    """The consumer groups among ``names`` that belong to one run: ``app_id`` itself (its
    workers) and ``<app_id>-…`` (its sink, its relay), sorted. Refuses an empty app id."""
    _check_app_id(app_id)
    return sorted({n for n in names if n == app_id or n.startswith(f"{app_id}-")})


# the states of a consumer group without members
IDLE_GROUP_STATES = ("Empty", "Dead")

# topics per DeleteTopics request: a request for hundreds at once can outlast its timeout
_DELETE_BATCH = 50


def delete_run(
    settings: Settings, *, who: str, run: str, progress: Progress, reach_s: float = 10.0
) -> tuple[int, int]:
    """Delete the topics and consumer groups of one run (``settings.topic_prefix`` and
    ``settings.app_id`` are the run's, see ``run_topics`` and ``run_groups``); returns how many
    of each went. Call it once the run's clients have stopped: a group with members stays.
    Never raises: it runs in ``finally`` blocks, where a failure would hide the run's own result
    or error, so whatever cannot be deleted is logged and reported through ``progress`` and the
    rest still goes. A broker not reached within ``reach_s`` is reported so (kafka-python 3;
    2.x waits its own 30 s)."""
    reach: dict[str, Any] = {}
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:
        reach["bootstrap_timeout_ms"] = int(reach_s * 1000)
    try:
        admin = admin_client(settings, **reach)
    except Exception as err:  # whatever the failure: see the docstring
        _failed(who, run, progress, f"no admin connection ({type(err).__name__}: {err})")
        return 0, 0
    try:
        topics = _delete_topics(admin, settings, who, run, progress)
        groups = _delete_groups(admin, settings, who, run, progress)
    finally:
        admin.close()
    progress(f"{who}: deleted {topics} topics and {groups} consumer groups of run {run}")
    return topics, groups


def _delete_topics(
    admin: KafkaAdminClient, settings: Settings, who: str, run: str, progress: Progress
) -> int:
    deleted = 0
    try:
        mine = run_topics(admin.list_topics(), settings.topic_prefix, settings.app_id)
        for i in range(0, len(mine), _DELETE_BATCH):
            batch = mine[i : i + _DELETE_BATCH]
            try:
                answer = admin.delete_topics(batch, raise_errors=False)
            except Exception as err:  # whatever the failure: see delete_run
                _failed(who, run, progress, f"{len(batch)} topics ({type(err).__name__}: {err})")
                continue
            for topic in answer.get("topics", []):
                code = topic.get("error_code", 0)
                if code == 0:
                    deleted += 1
                elif code != UnknownTopicOrPartitionError.errno:  # gone already: fine
                    error = kafka_errors.for_code(code).__name__
                    _failed(who, run, progress, f"topic {topic.get('name')} ({error})")
    except Exception as err:  # whatever the failure: see delete_run
        _failed(who, run, progress, f"listing the topics ({type(err).__name__}: {err})")
    return deleted


def _delete_groups(
    admin: KafkaAdminClient, settings: Settings, who: str, run: str, progress: Progress
) -> int:
    deleted = 0
    try:
        listed = list_groups(admin)
        mine = run_groups(listed, settings.app_id)
        # the run's workers join as static members, which stay in the group after a graceful
        # stop until their session times out: the run is over, so they are sent away first
        for group in mine:
            if listed[group] not in IDLE_GROUP_STATES:
                _remove_members(admin, group)
        # each group's result: "OK" or the error's name (a dict here; older clients give pairs)
        answer = dict(admin.delete_groups(mine)) if mine else {}
        for group, result in answer.items():
            if result == "OK":
                deleted += 1
            elif result != "GroupIdNotFoundError":  # gone already: fine
                _failed(who, run, progress, f"consumer group {group} ({result})")
    except Exception as err:  # whatever the failure: see delete_run
        _failed(who, run, progress, f"the consumer groups ({type(err).__name__}: {err})")
    return deleted


def _remove_members(admin: KafkaAdminClient, group: str) -> None:
    # faust's assignor puts its own data in each member's metadata, which kafka-python cannot
    # decode and logs whole as a warning; only the members' ids are needed here
    groups_log = logging.getLogger("kafka.admin._groups")
    level = groups_log.level
    groups_log.setLevel(logging.ERROR)
    try:
        members = admin.describe_groups([group])[group].get("members") or []
    finally:
        groups_log.setLevel(level)
    leaving = [
        MemberToRemove(member_id=m["member_id"], group_instance_id=m.get("group_instance_id"))
        for m in members
    ]
    if leaving:
        admin.remove_group_members(group, leaving)


def _failed(who: str, run: str, progress: Progress, what: str) -> None:
    log.warning("%s: could not delete all of run %s: %s", who, run, what)
    progress(f"{who}: could not delete all of run {run}: {what}")
