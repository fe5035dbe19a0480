"""The case-store sink: a plain Kafka consumer that commits offsets only after the database has.

Each poll is decoded into ``Incoming`` items (a message that cannot be decoded or validated
becomes a dead-letter item, never an exception), written in one transaction, and only then are
the batch's offsets committed. While the database is unreachable the same batch is retried with
backoff and nothing is committed; the consumer keeps polling with its partitions paused so the
group does not evict it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.db import is_unavailable
from consumers.store import ApplyResult, CaseStore, Incoming, dead_letter_id
from fengqiao.settings import Settings
from schemas.errors import FieldProblem
from schemas.events import DERIVED_TYPES
from schemas.parse import EventRejected, parse_event
from schemas.topics import spec

log = logging.getLogger("fengqiao.sink")

SINK_TOPICS: tuple[str, ...] = (
    "cases.routed",
    "cases.lifecycle",
    "incidents",
    "escalations",
    "sla.alerts",
    "intake.deadletter",
)


def decode(topic: str, partition: int, offset: int, raw: bytes | None) -> Incoming:
    """One Kafka message as a store item; anything unusable becomes a dead-letter item."""
    allowed = {t: DERIVED_TYPES[t] for t in spec(topic).messages}
    try:
        if raw is None or not raw.strip():
            raise EventRejected("decode", [FieldProblem("", "message is empty")])
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise EventRejected(
                "decode", [FieldProblem("", "message is not valid UTF-8 JSON")]
            ) from err
        parsed = parse_event(obj, allowed_types=dict(allowed))
    except EventRejected as err:
        return Incoming(
            event_id=dead_letter_id(topic, partition, offset),
            topic=topic,
            partition=partition,
            offset=offset,
            raw=raw,
            reason=err.reason,
            error_class=err.error_class,
        )
    env = parsed.envelope
    return Incoming(
        event_id=env.id,
        topic=topic,
        partition=partition,
        offset=offset,
        type=env.type,
        time=env.time,
        data=dict(env.data),
        subject=env.subject,
        raw=raw,
    )


@dataclass
class SinkStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    db_retries: int = 0
    commit_failures: int = 0

    def add(self, r: ApplyResult) -> None:
        self.applied += r.applied
        self.duplicates += r.duplicates
        self.dead_letters += r.dead_letters


class SinkCollector:
    """Prometheus view of a running sink's ``SinkStats`` (read at scrape time, so the stats
    stay the one count). Names carry the ``fengqiao_sink_`` prefix and no labels."""

    HELP = {
        "batches": "Polls applied to the case store in one transaction each.",
        "applied": "Events applied to the case store.",
        "duplicates": "Events already in the case store (same event id), changing nothing.",
        "dead_letters": "Messages the sink could not decode or validate, stored as dead letters.",
        "db_retries": "Retries of a batch while the database was unreachable.",
        "commit_failures": "Kafka offset commits that failed after the database commit.",
    }

    def __init__(self, stats: SinkStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        for name, help_text in self.HELP.items():
            yield CounterMetricFamily(
                f"fengqiao_sink_{name}", help_text, value=getattr(self.stats, name)
            )


def serve_metrics(stats: SinkStats, host: str, port: int) -> None:
    """Serve ``/metrics`` for the sink from a background thread."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(stats))
    start_http_server(port, addr=host, registry=registry)


class Stopping(Exception):  # noqa: N818 - a signal, not an error
    """Raised out of a database retry when the sink was asked to stop: nothing is committed."""


class Sink:
    """Consume the derived topics into a ``CaseStore``."""

    def __init__(
        self,
        settings: Settings,
        store: CaseStore,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.store = store
        self.stop = stop or threading.Event()
        self.stats = SinkStats()
        self._prefix = len(settings.topic_prefix)

    def consumer(self) -> Any:
        from kafka import KafkaConsumer

        s = self.settings
        return KafkaConsumer(
            *[s.topic(name) for name in SINK_TOPICS],
            bootstrap_servers=s.resolved_bootstrap().split(","),
            group_id=s.sink_group_id or f"{s.app_id}-sink",
            group_instance_id=s.sink_instance_id,
            client_id="fengqiao-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.sink_batch_size,
            session_timeout_ms=s.sink_session_timeout_ms,
            **s.kafka_client_config(),
        )

    def run(self) -> SinkStats:
        consumer = self.consumer()
        last_log, last_applied = time.monotonic(), 0
        try:
            while not self.stop.is_set():
                records = consumer.poll(timeout_ms=500)
                if records:
                    try:
                        self.handle(consumer, records)
                    except Stopping:
                        break
                if time.monotonic() - last_log >= 10 and self.stats.applied != last_applied:
                    rate = (self.stats.applied - last_applied) / (time.monotonic() - last_log)
                    log.info(
                        "applied %d (%.0f/s), duplicates %d, dead letters %d",
                        self.stats.applied,
                        rate,
                        self.stats.duplicates,
                        self.stats.dead_letters,
                    )
                    last_log, last_applied = time.monotonic(), self.stats.applied
        finally:
            consumer.close(autocommit=False)
        return self.stats

    def handle(self, consumer: Any, records: dict[Any, list[Any]]) -> None:
        from kafka.structs import OffsetAndMetadata

        batch = [
            decode(tp.topic[self._prefix :], m.partition, m.offset, m.value)
            for tp, msgs in records.items()
            for m in msgs
        ]
        self.write(consumer, batch)
        self.stats.batches += 1
        offsets = {
            tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1) for tp, msgs in records.items()
        }
        try:
            consumer.commit(offsets)
        except Exception as err:  # rebalanced away: the new owner re-reads, finds duplicates
            self.stats.commit_failures += 1
            log.warning("offset commit failed (%s); the batch will be re-read and skipped", err)

    def write(self, consumer: Any, batch: Sequence[Incoming]) -> None:
        """Write the batch, retrying while the database is unavailable; never skips an event."""
        try:
            self._retrying(consumer, lambda: self.stats.add(self.store.apply(batch)))
        except Stopping:
            raise
        except Exception as err:
            # A statement failed for some event (not an outage): write one by one, and make the
            # event that cannot be stored a dead letter so the stream moves on.
            # the class only: a driver's message may quote the row's values
            log.warning(
                "batch failed (%s); writing its %d events one by one",
                type(err).__name__,
                len(batch),
            )
            for item in batch:
                self._one(consumer, item)

    def _one(self, consumer: Any, item: Incoming) -> None:
        try:
            self._retrying(consumer, lambda: self.stats.add(self.store.apply([item])))
        except Stopping:
            raise
        except Exception as err:
            log.error("event %s cannot be stored: %s", item.event_id, type(err).__name__)
            reject = Incoming(
                event_id=item.event_id,
                topic=item.topic,
                partition=item.partition,
                offset=item.offset,
                raw=item.raw,
                reason=f"the case store could not apply this event ({type(err).__name__})",
                error_class="other",
            )
            self._retrying(consumer, lambda: self.stats.add(self.store.apply([reject])))

    def _retrying(self, consumer: Any, write: Callable[[], None]) -> None:
        delay = self.settings.sink_retry_initial_s
        paused = False
        try:
            while True:
                try:
                    write()
                    return
                except Exception as err:
                    if not is_unavailable(err):
                        raise
                    if self.stop.is_set():
                        raise Stopping() from err
                    self.stats.db_retries += 1
                    log.warning(
                        "database unavailable (%s); retrying in %.1fs, nothing committed",
                        type(err).__name__,
                        delay,
                    )
                    if not paused and consumer is not None:
                        consumer.pause(*consumer.assignment())
                        paused = True
                    self._wait(consumer, delay)
                    delay = min(delay * 2, self.settings.sink_retry_max_s)
        finally:
            if paused:
                consumer.resume(*consumer.paused())

    def _wait(self, consumer: Any, seconds: float) -> None:
        """Sleep while keeping group membership: poll with every partition paused."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            if consumer is None:
                time.sleep(min(0.2, seconds))
                continue
            consumer.pause(*consumer.assignment())
            got = consumer.poll(
                timeout_ms=int(min(0.5, max(deadline - time.monotonic(), 0)) * 1000)
            )
            # A rebalance during the poll may hand over unpaused partitions: put their records
            # back so nothing is skipped.
            for tp, msgs in got.items():
                consumer.seek(tp, msgs[0].offset)
