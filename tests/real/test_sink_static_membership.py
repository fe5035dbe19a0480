"""A sink with static membership takes its partitions even when the group remembers an empty
assignment: the previous incarnation of the same instance led the group before it had the
topics' metadata, and the restarted sink, back within the session timeout, must not inherit
that emptiness (the broker hands a returning static member its old assignment and does not
tell it that it leads the group, so the client alone never rebalances)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError

from consumers.db import SqlStore
from consumers.sink import SINK_TOPICS, Sink
from fengqiao.admin import create_topics
from fengqiao.settings import Settings
from fengqiao.wiring import sink_config
from tests.casetools import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

INSTANCE = "sink-1"


class _NoMetadata:
    """The cluster as a leader sees it before any topic metadata has arrived."""

    def partitions_for_topic(self, _topic: str) -> None:
        return None


class _BlindRange(RangePartitionAssignor):
    @classmethod
    def assign(cls, cluster: Any, members: Any) -> Any:
        return super().assign(_NoMetadata(), members)


class _BlindRoundRobin(RoundRobinPartitionAssignor):
    @classmethod
    def assign(cls, cluster: Any, members: Any) -> Any:
        return super().assign(_NoMetadata(), members)


def _group_stable(s: Settings, group: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=s.resolved_bootstrap().split(","))
    try:
        desc = admin.describe_groups([group]).get(group) or {}
    except KafkaError:  # a fresh broker still creating its offsets topic: not yet
        return False
    else:
        return desc.get("group_state") == "Stable" and len(desc.get("members") or []) == 1
    finally:
        admin.close()


def test_a_restarted_static_sink_takes_partitions_its_empty_past_did_not(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    s = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"m{tag}.",
        app_id=f"fq-static-{tag}",
        home=tmp_path / "home",
        topic_partitions=2,
        sink_instance_id=INSTANCE,
        sink_session_timeout_ms=30_000,  # the restart comes well inside it
    )
    create_topics(s)
    config = sink_config(s)
    topics = [s.topic(t) for t in SINK_TOPICS]
    # the earlier incarnation: same group and instance id, its leader without the topics'
    # metadata, so it assigned nothing; it stops without leaving, as static members do
    earlier = KafkaConsumer(
        *topics,
        bootstrap_servers=config.bootstrap_servers,
        group_id=config.group_id,
        group_instance_id=INSTANCE,
        enable_auto_commit=False,
        session_timeout_ms=config.session_timeout_ms,
        # the same protocols as the sink's (a difference would itself force a rebalance),
        # assigning as a leader without metadata does: nothing
        partition_assignment_strategy=(_BlindRange, _BlindRoundRobin),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _group_stable(s, config.group_id):
            earlier.poll(timeout_ms=200)
        assert _group_stable(s, config.group_id), "the earlier incarnation never joined"
        assert earlier.assignment() == set()
    finally:
        earlier.close(autocommit=False)

    want = {(t, p) for t in topics for p in range(s.topic_partitions)}
    store = SqlStore.open(f"sqlite:///{tmp_path / 'cases.db'}")
    consumer = Sink(config, store).consumer()
    try:

        def assigned() -> bool:
            consumer.poll(timeout_ms=200)
            return {(tp.topic, tp.partition) for tp in consumer.assignment()} == want

        # well inside the 30 s session timeout: the broker still holds the empty assignment
        wait_until(assigned, 20, "the restarted static sink assigned every partition", poll_s=0)
    finally:
        consumer.close(autocommit=False)
        store.close()
