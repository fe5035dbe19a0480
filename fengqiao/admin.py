"""Create the topic catalogue on a cluster (idempotent).

Every topic gets the configured replication and ``min.insync.replicas`` (2 of 3 on a
3-broker cluster): with the producers' acks=all, a write is then on two brokers before it is
acknowledged, and one broker can die without losing it or stopping intake.
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from fengqiao.settings import Settings
from schemas.topics import TOPICS


def _topic_config(settings: Settings, config: dict[str, str]) -> dict[str, str]:
    return {"min.insync.replicas": str(settings.effective_min_insync_replicas()), **config}


def create_topics(settings: Settings) -> tuple[list[str], list[str]]:
    """Create missing topics; returns (created, already there)."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        client_id="fengqiao-admin",
        **settings.kafka_client_config(),
    )
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
