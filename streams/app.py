"""Build the faust app: ``create_app(settings)`` registers every agent from its feature module.

Agents only decode, call the pure decision code and publish. Intake topics are read as raw
bytes: the worker validates them itself, so a bad message becomes a dead letter instead of
being skipped by faust's decoder. Agents run with concurrency 1 (faust-streaming #606).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust
import orjson
from faust.streams import current_event

from fengqiao.settings import Settings
from schemas.topics import TOPICS
from streams.clock import StreamClock
from streams.clock import wall_clock as wall_clock
from streams.diagnose import producer_state
from streams.intake import IntakeProcessor, Out
from streams.routing import Router, load_router
from streams.watch import partition_of
from streams.writeback import DELETED, WriteBack

log = logging.getLogger("fengqiao.worker")

Clock = Callable[[], datetime]

# a delivery still waiting after this long gets the producer's queues logged
SLOW_DELIVERY_S = 10.0


class DeliveryTimeout(Exception):
    """The broker did not take a batch's output within ``worker_delivery_timeout_s``."""


@dataclass
class WorkerContext:
    """What feature modules need to register agents: settings, topics, shared state."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    router: Router
    clock: Clock
    # Sanity checks on producers' clocks (future skew) always use real time, even when the
    # rules run on stream time.
    wall: Clock = wall_clock
    stream_clock: StreamClock | None = None
    intake: IntakeProcessor | None = None
    case_hooks: list[Callable[..., Any]] = field(default_factory=list)
    assigned_partitions: int = 0
    # logical names of the worker's internal topics: their messages are batched per partition
    internal: set[str] = field(default_factory=set)
    _names: dict[str, str] = field(default_factory=dict)
    # the producer whose metadata tracks every topic the worker sends to (see track_topic)
    _tracked_by: Any = None

    def observe(self, t: datetime) -> None:
        """An event time was seen: advances stream time when the rules run on it."""
        if self.stream_clock is not None:
            self.stream_clock.observe(t)

    async def publish(self, outs: list[Out], tables: Sequence[WriteBack] = ()) -> None:
        """Send ``outs`` and write the changes in ``tables`` (write-back views over faust
        tables) to the tables and their changelogs, then wait until the broker has every
        message: the caller acknowledges its input only after that.

        Messages for an internal topic are grouped by the partition their key hashes to
        (Kafka's default partitioner) and sent as one ``{"items": [...]}`` message per
        partition, so the agent that owns that partition's table reads one message per batch
        instead of one per case. Everything goes straight to the aiokafka producer under faust's:
        faust's per-message send path (futures, buffers, sensors) cost more than the rest of
        the send, and keyed messages come with their partition (see ``_send``).
        """
        try:
            # one by one: they resolve a producer batch at a time, so nearly all are done
            # when reached (asyncio.gather cost 1.5 µs per future, this 0.1)
            for delivered in await self._send(outs, tables):
                if delivered.done():
                    delivered.result()
                else:
                    await self._delivered(delivered)
        except Exception as exc:
            # The producer has retried until its delivery timeout. Carrying on would leave
            # this batch unacknowledged behind the ones that follow, stalling the partition's
            # commits; stopping lets the next start (or another worker) read it again.
            log.error(
                "the broker did not take a batch's output (%s: %s); stopping the worker, the "
                "batch is not acknowledged and will be read again",
                type(exc).__name__,
                exc,
            )
            await self.app.crash(exc)
            raise

    async def _delivered(self, delivered: asyncio.Future[Any]) -> None:
        """Wait for one delivery, logging the producer's queues when it is slow and raising
        ``DeliveryTimeout`` past ``worker_delivery_timeout_s``."""
        timeout = self.settings.worker_delivery_timeout_s
        slow = min(SLOW_DELIVERY_S, timeout)
        done, _ = await asyncio.wait({delivered}, timeout=slow)
        if not done:
            log.warning(
                "a batch's delivery has waited %g s: %s",
                slow,
                producer_state(kafka_producer(self.app)),
            )
            done, _ = await asyncio.wait({delivered}, timeout=timeout - slow)
            if not done:
                raise DeliveryTimeout(
                    f"not delivered in {timeout:g} s: {producer_state(kafka_producer(self.app))}"
                )
        delivered.result()

    async def _send(
        self, outs: list[Out], tables: Sequence[WriteBack]
    ) -> list[asyncio.Future[Any]]:
        producer = kafka_producer(self.app)
        if producer is not self._tracked_by:
            self._track_all(producer)
        sent: list[asyncio.Future[Any]] = []
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        n = self.settings.topic_partitions
        counts: dict[str, int] = {}
        for out in outs:
            if out.topic in self.internal:
                grouped.setdefault((out.topic, partition_of(out.key, n)), []).append(out.value)
                continue
            name = self.topic_name(out.topic)
            count = counts.get(name)
            if count is None:
                count = counts[name] = len(await producer.partitions_for(name))
            # the partition the producer's own (murmur2) partitioner would give the key, over
            # the topic's real partition count; from a cache, since keys repeat (committees)
            # and the producer's murmur2 is pure Python (10 µs a message)
            partition = partition_of(out.key, count)
            value = orjson.dumps(out.value)
            sent.append(await producer.send(name, value, key=out.key.encode(), partition=partition))
        for (topic, partition), items in grouped.items():
            value = orjson.dumps({"items": items})
            sent.append(await producer.send(self.topic_name(topic), value, partition=partition))
        for view in tables:
            sent.extend(await write_table(producer, view))
        return sent

    def _track_all(self, producer: Any) -> None:
        """Track every topic the worker sends to in the producer's metadata before the first
        send: its topics and its tables' changelogs (see ``track_topic``). Every name ``_send``
        and ``write_table`` send to is one of these."""
        for logical in self.topics:
            track_topic(producer, self.topic_name(logical))
        for table in getattr(self.app, "tables", {}).values():
            track_topic(producer, table.changelog_topic.get_topic_name())
        self._tracked_by = producer

    def topic_name(self, logical: str) -> str:
        name = self._names.get(logical)
        if name is None:
            name = self._names[logical] = self.topics[logical].get_topic_name()
        return name

    def table_view(self, table: Any, partition_of: PartitionOf | None = None) -> WriteBack:
        """A write-back view of a faust table for one batch: each change goes to the
        partition ``partition_of(key, value)`` names, by default the current event's."""
        return WriteBack(table, partition_of or _event_partition)


PartitionOf = Callable[[str, Any], int]


def _event_partition(key: str, value: Any) -> int:
    event = current_event()
    if event is None:
        raise RuntimeError("a table was changed outside of a stream event")
    return int(event.message.partition)


async def write_table(producer: Any, view: WriteBack) -> list[asyncio.Future[Any]]:
    """Apply the view's changes to its faust table and send them to the table's changelog
    with the aiokafka ``producer`` (which tracks the changelog: ``WorkerContext._track_all``),
    one message per changed key, as the table itself would (same key and value encoding, a
    tombstone for a delete). Returns the delivery futures."""
    table: Any = view.base  # a faust Table
    topic = table.changelog_topic
    name = topic.get_topic_name()
    store = table.data
    key_partition = getattr(store, "_key_partition", None)
    send = producer.send
    sent: list[asyncio.Future[Any]] = []
    for key, value, partition in view.changes():
        raw_key, _ = topic.prepare_key(key, table.key_serializer)
        if value is DELETED:
            store.pop(key, None)
            raw_value = None
            if key_partition is not None:
                key_partition.pop(key, None)
        else:
            store[key] = value
            raw_value, _ = topic.prepare_value(value, table.value_serializer)
            if key_partition is not None and partition is not None:
                # the memory store forgets rows of revoked partitions by this map
                key_partition[key] = partition
        sent.append(await send(name, raw_value, key=raw_key, partition=partition))
    return sent


def track_topic(producer: Any, name: str) -> None:
    """Have the aiokafka producer keep ``name`` in its metadata: call before sending to it.

    The producer starts tracking no topic, and a metadata refresh then asks for all of them;
    sending to a topic it knows so does not track it. The first send to a topic it does not
    know yet (a changelog faust just created) tracks that one, and from then on every refresh
    asks for the tracked topics only and forgets the rest. A batch queued for
    a forgotten topic then waits for a leader until its TTL (faust: 1,200 s): a worker stalled
    so in CI (``tests/test_producer_metadata_kafka.py`` shows it on a real broker)."""
    client = producer.client
    if name not in client._topics:
        client.add_topic(name)


def kafka_producer(app: faust.App) -> Any:
    """The aiokafka producer under faust's: sending to it directly skips faust's wrapper
    (sensors, headers, transactions; none used here), a few µs a message."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def _make_topics(app: faust.App, settings: Settings) -> dict[str, faust.TopicT]:
    topics: dict[str, faust.TopicT] = {}
    for spec in TOPICS:
        topics[spec.name] = app.topic(
            settings.topic(spec.name),
            key_serializer="raw",
            value_serializer="raw",
            internal=False,
        )
    return topics


def create_app(
    settings: Settings,
    *,
    router: Router | None = None,
    clock: Clock | None = None,
    features: tuple[Callable[[WorkerContext], None], ...] | None = None,
) -> tuple[faust.App, WorkerContext]:
    from streams import faustfix

    faustfix.apply()
    datadir = settings.worker_data_dir or (settings.home / "worker")
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.resolved_bootstrap().split(",")],
        broker_credentials=settings.faust_broker_credentials(),
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_port=settings.worker_web_port,
        web_host="127.0.0.1",
        datadir=str(datadir),
        producer_acks=-1,
        producer_linger=0.01,
        stream_wait_empty=False,
        broker_commit_every=200,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        table_cleanup_interval=60.0,
        table_standby_replicas=settings.worker_standby_replicas,
    )
    _without_monitor_sensor(app)
    app.fq_fetch = (settings.worker_fetch_min_bytes, settings.worker_fetch_max_wait_ms)  # type: ignore[attr-defined]
    stream_clock = StreamClock() if clock is None and settings.clock == "stream" else None
    ctx = WorkerContext(
        settings=settings,
        app=app,
        topics=_make_topics(app, settings),
        router=router or load_router(settings.ruleset_path, settings.catalogue_path),
        clock=clock or stream_clock or wall_clock,
        wall=clock or wall_clock,
        stream_clock=stream_clock,
    )
    for feature in features if features is not None else default_features():
        feature(ctx)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        ctx.assigned_partitions = len(assigned)
        log.info("worker ready: %d partitions assigned", len(assigned))

    return app, ctx


def _without_monitor_sensor(app: faust.App) -> None:
    """Keep faust's Monitor out of the sensors called for every message in and out: it keeps
    per-message timing statistics that nothing here reads (the worker's own ``/stats`` and the
    ``fengqiao metrics`` exporter count what matters), at about a tenth of the worker's CPU."""
    sensors = app.sensors
    add = sensors.add

    def add_unless_monitor(sensor: Any) -> None:
        if sensor is not app._monitor:
            add(sensor)

    sensors.add = add_unless_monitor  # type: ignore[method-assign]
    # With no sensor at all faust warns "Missing sensor state for rebalance" on every
    # rebalance; faust's base Sensor does nothing (an empty call per hook).
    add(faust.Sensor())


def default_features() -> tuple[Callable[[WorkerContext], None], ...]:
    """``register`` of every module in ``streams/agents/``, in the order of their ``ORDER``."""
    import streams.agents as pkg

    mods = [
        importlib.import_module(f"streams.agents.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
    ]
    return tuple(m.register for m in sorted(mods, key=lambda m: getattr(m, "ORDER", 100)))
