"""The case-store sink: a plain Kafka consumer that commits offsets only after the database has.

Each poll is decoded into ``Incoming`` items (a message that cannot be decoded or validated
becomes a dead-letter item, never an exception; a transfer to a committee that is not in the
catalogue is marked refused and kept in the case history; an intake report keeps the facts a
case page shows, and an invalid one is skipped, since the worker dead-letters it), written in
one transaction, and
only then are the batch's offsets committed. While the database is unreachable the same batch is
retried with backoff and nothing is committed; the consumer keeps polling with its partitions
paused so the group does not evict it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.db import is_unavailable
from consumers.fetching import FETCH_MAX_WAIT_MS, FETCH_MIN_BYTES
from consumers.reports import REPORT_TOPICS
from consumers.static_member import StaticMember
from consumers.store import ApplyResult, CaseStore, Incoming, dead_letter_id
from schemas.errors import FieldProblem
from schemas.events import DERIVED_TYPES, dump
from schemas.parse import EventRejected, loads_json, parse_event, parse_intake_bytes
from schemas.topics import spec

log = logging.getLogger("fengqiao.sink")

SINK_TOPICS: tuple[str, ...] = (
    "cases.routed",
    "cases.lifecycle",
    "incidents",
    "escalations",
    "sla.alerts",
    "intake.deadletter",
    *REPORT_TOPICS,  # the reports' facts (parties, contacts, summary) for the case page
)


def decode(topic: str, partition: int, offset: int, raw: bytes | None) -> Incoming:
    """One Kafka message as a store item; anything unusable becomes a dead-letter item."""
    allowed = {t: DERIVED_TYPES[t] for t in spec(topic).messages}
    try:
        if raw is None or not raw.strip():
            raise EventRejected("decode", [FieldProblem("", "message is empty")])
        try:
            obj = loads_json(raw)  # reads and refuses what json.loads does, faster
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


def decode_report(
    topic: str,
    partition: int,
    offset: int,
    raw: bytes | None,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(minutes=10),
) -> Incoming | None:
    """One intake message as a store item, or None when it does not validate: the worker
    dead-letters it, so the sink neither keeps nor logs anything of it. ``now`` applies the
    worker's future-time check, so a report the worker refused is not kept either."""
    try:
        parsed = parse_intake_bytes(
            raw, now=now, max_future=max_future, expected_type=REPORT_TOPICS[topic]
        )
    except EventRejected:
        return None
    env = parsed.envelope
    return Incoming(
        event_id=env.id,
        topic=topic,
        partition=partition,
        offset=offset,
        type=env.type,
        time=env.time,
        data=dump(parsed.payload),
        subject=env.subject,
        source=env.source,
        # No raw bytes: should the store fail on this report, its dead letter names the topic,
        # partition and offset without copying the parties into a second table.
    )


def refuse_unknown_committee(item: Incoming, committees: Collection[str] | None) -> Incoming:
    """A transfer to a committee outside the catalogue, marked refused (with the reason) so
    the store keeps it in the history without moving the case. ``None``: no catalogue check."""
    if committees is None or item.reason is not None or item.type != "case.transferred.v1":
        return item
    if item.data.get("to_committee_id") in committees:
        return item
    return replace(
        item, refused="the committee the case was transferred to is not in the catalogue"
    )


@dataclass(frozen=True)
class SinkConfig:
    """What the sink needs; built from the settings by the composition root."""

    bootstrap_servers: list[str]
    topic_prefix: str = ""
    group_id: str = "fengqiao-sink"
    instance_id: str | None = None
    batch_size: int = 500
    session_timeout_ms: int = 10_000
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS  # see consumers.fetching
    fetch_min_bytes: int = FETCH_MIN_BYTES
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    client_config: Mapping[str, Any] = field(default_factory=dict)
    committees: frozenset[str] | None = None  # the catalogue's ids; None: transfers unchecked
    max_future_s: float = 600.0  # as the worker's: a report further ahead is not kept


@dataclass
class SinkStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    db_retries: int = 0
    commit_failures: int = 0
    # Intake messages that do not validate: the worker counts and dead-letters them, so this
    # is not exported (it would count the same messages twice).
    reports_skipped: int = 0

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


def serve_metrics(
    stats: SinkStats, host: str, port: int, ready: Callable[[], str | None] | None = None
) -> Any:
    """Serve ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (``ready()`` is None, else 503
    with its reason) for the sink from a background thread; returns the server."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(stats))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                why = ready() if ready is not None else None
                if why is None:
                    self._json(200, {"status": "ok"})
                else:
                    self._json(503, {"status": "unavailable", "reason": why})
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, code: int, body: dict[str, str]) -> None:
            self._send(code, json.dumps(body).encode(), "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # scrapes every few seconds are not news

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="sink-metrics").start()
    return server


class Stopping(Exception):  # noqa: N818 - a signal, not an error
    """Raised out of a database retry when the sink was asked to stop: nothing is committed."""


class Sink:
    """Consume the derived topics into a ``CaseStore``."""

    def __init__(
        self,
        config: SinkConfig,
        store: CaseStore,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.store = store
        self.stop = stop or threading.Event()
        self.stats = SinkStats()
        self._prefix = len(config.topic_prefix)
        self._last_poll: float | None = None  # monotonic time of the last poll that returned

    def consumer(self) -> Any:
        from kafka import KafkaConsumer

        c = self.config
        topics = [f"{c.topic_prefix}{name}" for name in SINK_TOPICS]
        consumer = KafkaConsumer(
            bootstrap_servers=list(c.bootstrap_servers),
            group_id=c.group_id,
            group_instance_id=c.instance_id,
            client_id="fengqiao-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=c.batch_size,
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            fetch_min_bytes=c.fetch_min_bytes,
            session_timeout_ms=c.session_timeout_ms,
            **dict(c.client_config),
        )
        # the topics' metadata before the first join: subscribed at once, the group's first
        # assignment ran without it and logged "No partition metadata for topic …" for each
        for topic in topics:
            consumer.partitions_for_topic(topic)
        consumer.subscribe(topics)
        # a static member may come back to an empty assignment the broker kept for it
        return StaticMember(consumer) if c.instance_id else consumer

    def ready(self) -> str | None:
        """None when the sink is polling and its store answers, else why not."""
        last = self._last_poll
        if last is None:
            return "the sink has not polled Kafka yet"
        if time.monotonic() - last > 60:
            return "the sink has not completed a poll for over a minute"
        try:
            self.store.ping()
        except Exception as err:  # noqa: BLE001 - any failure means "not ready", said why
            return f"the case store does not answer ({type(err).__name__})"
        return None

    def run(self) -> SinkStats:
        consumer = self.consumer()
        last_log, last_applied = time.monotonic(), 0
        try:
            while not self.stop.is_set():
                records = consumer.poll(timeout_ms=500)
                self._last_poll = time.monotonic()
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

        known = self.config.committees
        now = datetime.now(UTC)
        batch: list[Incoming] = []
        for tp, msgs in records.items():
            topic = tp.topic[self._prefix :]
            for m in msgs:
                if topic in REPORT_TOPICS:
                    report = decode_report(
                        topic,
                        m.partition,
                        m.offset,
                        m.value,
                        now=now,
                        max_future=timedelta(seconds=self.config.max_future_s),
                    )
                    if report is None:
                        self.stats.reports_skipped += 1
                    else:
                        batch.append(report)
                    continue
                batch.append(
                    refuse_unknown_committee(decode(topic, m.partition, m.offset, m.value), known)
                )
        if batch:
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
        delay = self.config.retry_initial_s
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
                    delay = min(delay * 2, self.config.retry_max_s)
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
