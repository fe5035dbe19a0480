"""``delete_run`` on the real broker: a run's topics and consumer groups go, another run's and
the product's stay; a broker it cannot reach is reported, never raised."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from fengqiao import localkafka
from fengqiao.admin import delete_run
from fengqiao.settings import Settings
from schemas.topics import TOPICS

pytestmark = pytest.mark.kafka


def _run(base: Settings) -> tuple[str, Settings]:
    run = uuid.uuid4().hex[:8]
    return run, base.model_copy(
        update={"topic_prefix": f"{base.topic_prefix}bench-{run}.", "app_id": f"fq-bench-{run}"}
    )


def _topics(s: Settings) -> list[str]:
    """What a bench run leaves: prefixed outputs and relay topics, its workers' changelogs."""
    return [
        s.topic("cases.routed"),
        s.topic("internal.risk-inputs"),
        s.topic("relay-in-0a1b2c3d"),
        f"{s.app_id}-seen-changelog",
        f"{s.app_id}-__assignor-__leader",
    ]


def _groups(s: Settings) -> list[str]:
    """What a bench run's consumers leave: its workers', its sink's and its relay's groups."""
    return [s.app_id, f"{s.app_id}-sink", f"{s.app_id}-relay"]


def _commit(s: Settings, group: str, topic: str) -> None:
    """Make ``group`` known to the broker, as a consumer that committed an offset and left."""
    consumer = KafkaConsumer(bootstrap_servers=s.resolved_bootstrap(), group_id=group)
    try:
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(0, "", -1)})
    finally:
        consumer.close()


def _listed(admin: KafkaAdminClient) -> set[str]:
    return {g["group_id"] for g in admin.list_groups()}


def test_a_runs_topics_and_groups_go_and_another_runs_and_the_products_stay(
    kafka_settings: Settings,
) -> None:
    run, mine = _run(kafka_settings)
    _, other = _run(kafka_settings)
    product = [kafka_settings.topic(t.name) for t in TOPICS]  # made by the fixture
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.resolved_bootstrap())
    try:
        admin.create_topics([NewTopic(t, 1, 1) for t in _topics(mine) + _topics(other)])
        for s in (mine, other):
            for group in _groups(s):
                _commit(s, group, s.topic("cases.routed"))
        assert set(_groups(mine) + _groups(other)) <= _listed(admin)
        said: list[str] = []
        assert delete_run(mine, who="bench", run=run, progress=said.append) == (5, 3)
        assert said == [f"bench: deleted 5 topics and 3 consumer groups of run {run}"]
        deadline = time.monotonic() + 30
        left = set(admin.list_topics())
        while set(_topics(mine)) & left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = set(admin.list_topics())
        assert not set(_topics(mine)) & left
        assert set(_topics(other)) <= left and set(product) <= left
        groups = _listed(admin)
        assert not set(_groups(mine)) & groups
        assert set(_groups(other)) <= groups
        # a second delete finds nothing of the run
        assert delete_run(mine, who="bench", run=run, progress=said.append) == (0, 0)
        admin.delete_topics(_topics(other))
        admin.delete_groups(_groups(other))
    finally:
        admin.close()


def test_a_broker_it_cannot_reach_is_reported_not_raised(kafka_settings: Settings) -> None:
    run, mine = _run(kafka_settings)
    gone = mine.model_copy(
        update={"kafka_bootstrap_servers": f"127.0.0.1:{localkafka.free_port()}"}
    )
    said: list[str] = []
    assert delete_run(gone, who="bench", run=run, progress=said.append, reach_s=1.0) == (0, 0)
    assert len(said) == 1 and said[0].startswith(f"bench: could not delete all of run {run}")


def test_bench_clean_deletes_runs_left_behind_and_leaves_a_live_one(
    kafka_settings: Settings,
) -> None:
    from fengqiao.bench import run_settings
    from fengqiao.benchclean import clean_leftovers

    killed, live = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    gone, running = run_settings(kafka_settings, killed), run_settings(kafka_settings, live)
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.resolved_bootstrap())
    member = None
    try:
        admin.create_topics([NewTopic(t, 1, 1) for t in _topics(gone) + _topics(running)])
        for group in _groups(gone):
            _commit(gone, group, gone.topic("cases.routed"))
        # the live run's workers are still in their group. A member that joins before the
        # broker gives it the new topic's partitions is assigned nothing and stays so (seen
        # in CI after the test above deleted its topics): it subscribes once it sees them
        member = KafkaConsumer(
            bootstrap_servers=kafka_settings.resolved_bootstrap(),
            group_id=running.app_id,
        )
        deadline = time.monotonic() + 30
        while not member.partitions_for_topic(running.topic("cases.routed")):
            assert time.monotonic() < deadline, "the new topic never had partitions"
            time.sleep(0.2)
        member.subscribe([running.topic("cases.routed")])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(timeout_ms=200)
        assert member.assignment()
        said: list[str] = []
        cleaned, busy = clean_leftovers(kafka_settings, progress=said.append)
        # other tests' leftovers may be cleaned too; these two runs are counted in each
        assert cleaned >= 1 and busy >= 1
        assert any(f"run {live} left alone" in m for m in said)
        assert any(f"deleted 5 topics and 3 consumer groups of run {killed}" in m for m in said)
        deadline = time.monotonic() + 30
        while set(_topics(gone)) & set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = set(admin.list_topics())
        assert not set(_topics(gone)) & left
        assert set(_topics(running)) <= left
        assert not set(_groups(gone)) & _listed(admin)
    finally:
        if member is not None:
            member.close()
        admin.delete_topics([t for t in _topics(running) if t in admin.list_topics()])
        admin.close()
