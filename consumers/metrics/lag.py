"""The stream worker's consumer lag: committed offsets of its group against the end offsets.

``lag_by_topic`` is the arithmetic; ``LagProbe`` asks the cluster (kafka-python's admin client
and a consumer without a group, so measuring never joins or disturbs the worker's group).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.metrics.config import KafkaAccess

CLIENT_ID = "fengqiao-metrics-lag"


def lag_by_topic(
    committed: Mapping[tuple[str, int], int],
    ends: Mapping[tuple[str, int], int],
    prefix: str = "",
) -> dict[str, int]:
    """Σ (end offset − committed offset) per topic, prefix stripped; never negative."""
    out: dict[str, int] = {}
    for (topic, partition), offset in committed.items():
        end = ends.get((topic, partition))
        if end is None:
            continue
        name = topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
        out[name] = out.get(name, 0) + max(end - offset, 0)
    return out


class LagProbe:
    """Committed offsets of a consumer group (kafka-python admin) against the end offsets."""

    def __init__(self, kafka: KafkaAccess, group: str, timeout_ms: int | None = None) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.group = group
        self.prefix = kafka.topic_prefix
        self.timeout_ms = timeout_ms
        common: dict[str, Any] = {
            "bootstrap_servers": list(kafka.bootstrap_servers),
            **kafka.client_config,
        }
        self.admin = KafkaAdminClient(client_id=CLIENT_ID, **common)
        self.consumer = KafkaConsumer(
            group_id=None, enable_auto_commit=False, client_id=CLIENT_ID, **common
        )

    def committed(self) -> dict[tuple[str, int], int]:
        admin: Any = self.admin
        if hasattr(admin, "list_consumer_group_offsets"):  # kafka-python 2.x
            raw = admin.list_consumer_group_offsets(self.group)
        else:  # kafka-python 3.x
            raw = admin.list_group_offsets({self.group: None}).get(self.group, {})
        return {(tp.topic, tp.partition): om.offset for tp, om in raw.items() if om.offset >= 0}

    def measure(self) -> dict[str, int]:
        from kafka import TopicPartition

        committed = self.committed()
        if not committed:
            return {}
        tps = [TopicPartition(t, p) for t, p in committed]
        consumer: Any = self.consumer
        if self.timeout_ms is None:
            answer = consumer.end_offsets(tps)
        else:  # bounded, so a broker outage cannot hold the sink's loop for minutes
            answer = consumer.end_offsets(tps, timeout_ms=self.timeout_ms)
        ends = {(tp.topic, tp.partition): off for tp, off in answer.items()}
        return lag_by_topic(committed, ends, self.prefix)

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()
