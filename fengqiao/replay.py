"""Read the intake history back from Kafka for a what-if replay. Reads only, never writes.

The consumer gets a group id of its own per run (``<app_id>-replay-<random>``), is assigned the
intake partitions by hand and never commits, so the worker's group and offsets are untouched.
``since`` / ``until`` are broker timestamps (when the event was published), looked up with
``offsets_for_times``; the run stops at the end offsets seen when it started.
``on_progress`` is told how far it got every few seconds: a province's year is minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from fengqiao.settings import Settings
from schemas.errors import FengqiaoError
from schemas.parse import EventRejected, parse_intake_bytes
from streams.cases import Case, case_from_event
from streams.intake import TOPIC_TYPES

# A replay reads history, not a live tail: fetch up to 4 MiB per partition (kafka-python's
# default is 1 MiB) and hand over up to 10,000 records a poll, so the fetcher's round trips
# and the poll loop's overhead are spread over more events.
FETCH_PARTITION_BYTES = 4 * 1024 * 1024
RECORDS_PER_POLL = 10_000
PROGRESS_EVERY_S = 5.0


class ReplayError(FengqiaoError):
    """The intake history could not be read."""


@dataclass
class ReplayStats:
    messages: int = 0
    invalid: int = 0
    duplicates: int = 0
    no_case: int = 0  # consultations
    topics_missing: list[str] = field(default_factory=list)
    # Messages between the start and end offsets when the run started (a compacted or
    # transactional topic may hold fewer); only for progress, not part of the report.
    expected: int = 0

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
    on_progress: Callable[[ReplayStats], None] | None = None,
) -> Iterator[Case]:
    """Every case the intake topics opened between ``since`` and ``until`` (once per event id).

    ``on_progress(stats)`` is called every PROGRESS_EVERY_S while messages are read."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        group_id=f"{settings.app_id}-replay-{uuid.uuid4().hex[:12]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="fengqiao-replay",
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
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
        stats.expected = sum(max(0, end[tp] - start[tp]) for tp in tps)
        for tp in tps:
            consumer.seek(tp, start[tp])
        consumer.pause(*[tp for tp in tps if tp not in pending])
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while pending:
            now = time.monotonic()
            if now > deadline:
                raise ReplayError(
                    f"intake history not read within {timeout_s:.0f}s "
                    f"({len(pending)} partitions unfinished)"
                )
            if on_progress is not None and now >= next_progress:
                next_progress = now + PROGRESS_EVERY_S
                on_progress(stats)
            batch = consumer.poll(timeout_ms=500, max_records=RECORDS_PER_POLL)
            for tp, records in batch.items():
                stop, expected_type = end[tp], TOPIC_TYPES[logical[tp.topic]]
                for rec in records:
                    if rec.offset >= stop:
                        break
                    stats.messages += 1
                    try:
                        parsed = parse_intake_bytes(rec.value, expected_type=expected_type)
                    except EventRejected:
                        stats.invalid += 1
                        continue
                    event_id = parsed.envelope.id
                    if event_id in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(event_id)
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
