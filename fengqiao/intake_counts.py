"""The one year-end figure the case store cannot give: consultations, which open no case and
leave no report row. Counted from the intake topics, read from the beginning, by the events'
own time inside the report's window."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import INTAKE_KINDS


@dataclass
class IntakeCounts:
    by_kind: Counter[str] = field(default_factory=Counter)
    topics: tuple[str, ...] = ()


def count_intake(
    bootstrap: list[str],
    topic_of: dict[str, str],
    start: datetime,
    end: datetime,
    client_config: dict[str, object],
    budget_s: float = 120.0,
) -> IntakeCounts:
    """``topic_of``: SDK kind -> physical topic. Reads every partition to its current end."""
    from kafka import KafkaConsumer, TopicPartition

    from consumers.fetching import FULLER_FETCHES

    out = IntakeCounts(topics=tuple(topic_of.values()))
    kind_of = {topic: kind for kind, topic in topic_of.items()}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id="fengqiao-report-intake",
        # a read from the beginning: partitions read to their end must not hold the rest
        **{**FULLER_FETCHES, **client_config},
    )
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in topic_of.values()
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in parts):
            for tp, msgs in consumer.poll(timeout_ms=500, max_records=5000).items():
                kind = kind_of[tp.topic]
                for msg in msgs:
                    try:
                        env = json.loads(msg.value)
                        when = datetime.fromisoformat(env["time"])
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # the dead-letter path counts what cannot be read
                    if start <= when < end:
                        out.by_kind[kind] += 1
    finally:
        consumer.close()
    return out


def intake_topics() -> dict[str, str]:
    """SDK kind -> logical intake topic."""
    return {kind: topic for kind, (_type, topic) in INTAKE_KINDS.items()}
