"""Read the intake history back from Kafka for a what-if replay. Reads only, never writes.

The consumer gets a group id of its own per run (``<app_id>-replay-<random>``), is assigned the
intake partitions by hand and never commits, so the worker's group and offsets are untouched.
``since`` / ``until`` are broker timestamps (when the event was published), looked up with
``offsets_for_times``; the run stops at the end offsets seen when it started.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from fengqiao.settings import Settings
from schemas.errors import FengqiaoError
from schemas.parse import EventRejected, parse_intake_bytes
from streams.cases import Case, case_from_event
from streams.intake import TOPIC_TYPES


class ReplayError(FengqiaoError):
    """The intake history could not be read."""


@dataclass
class ReplayStats:
    messages: int = 0
    invalid: int = 0
    duplicates: int = 0
    no_case: int = 0  # consultations
    topics_missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "no_case": self.no_case,
            "topics_missing": self.topics_missing,
        }


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def intake_cases(
    settings: Settings,
    stats: ReplayStats,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    timeout_s: float = 300.0,
) -> Iterator[Case]:
    """Every case the intake topics opened between ``since`` and ``until`` (once per event id)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        group_id=f"{settings.app_id}-replay-{uuid.uuid4().hex[:12]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="fengqiao-replay",
        **settings.kafka_client_config(),
    )
    try:
        tps: list[TopicPartition] = []
        logical: dict[str, str] = {}
        for name in TOPIC_TYPES:
            topic = settings.topic(name)
            logical[topic] = name
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                stats.topics_missing.append(topic)
                continue
            tps.extend(TopicPartition(topic, p) for p in sorted(parts))
        if not tps:
            return
        consumer.assign(tps)
        start = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        if since is not None:
            found = consumer.offsets_for_times({tp: _ms(since) for tp in tps})
            start = {tp: (o.offset if o is not None else end[tp]) for tp, o in found.items()}
        if until is not None:
            found = consumer.offsets_for_times({tp: _ms(until) for tp in tps})
            end = {tp: (o.offset if o is not None else end[tp]) for tp, o in found.items()}
        pending = {tp for tp in tps if start[tp] < end[tp]}
        for tp in tps:
            consumer.seek(tp, start[tp])
        consumer.pause(*[tp for tp in tps if tp not in pending])
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"intake history not read within {timeout_s:.0f}s "
                    f"({len(pending)} partitions unfinished)"
                )
            batch = consumer.poll(timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= end[tp]:
                        break
                    stats.messages += 1
                    try:
                        parsed = parse_intake_bytes(
                            rec.value, expected_type=TOPIC_TYPES[logical[tp.topic]]
                        )
                    except EventRejected:
                        stats.invalid += 1
                        continue
                    if parsed.envelope.id in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(parsed.envelope.id)
                    case = case_from_event(parsed)
                    if case is None:
                        stats.no_case += 1
                        continue
                    yield case
            for tp in list(pending):
                if consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close(autocommit=False)
