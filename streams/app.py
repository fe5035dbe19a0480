"""Build the faust app: ``create_app(config)`` registers every agent from its feature module.

Agents only decode, call the pure decision code and publish. Intake topics are read as raw
bytes: the worker validates them itself, so a bad message becomes a dead letter instead of
being skipped by faust's decoder. Agents run with concurrency 1: faust commits past a message
still in flight under concurrency (``streams.runtime.patches`` names the upstream issue).
Everything that touches faust's private names is in ``streams.runtime``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust
import orjson
from faust.streams import current_event

from schemas.topics import TOPICS
from streams.clock import StreamClock
from streams.clock import wall_clock as wall_clock
from streams.config import WorkerConfig
from streams.intake import IntakeProcessor, Out
from streams.routing import Router, load_router
from streams.runtime import patches, recovering, stalls, versions
from streams.runtime.connlog import ConnectionLog
from streams.runtime.fetch import set_fetch
from streams.runtime.probe import producer_state
from streams.runtime.producer import Record, kafka_producer, send_records, track_topic
from streams.runtime.sensors import without_monitor_sensor
from streams.runtime.tables import json_encoder, key_partitions, rows
from streams.watch import partition_of
from streams.writeback import DELETED, WriteBack

__all__ = ["WorkerContext", "create_app", "kafka_producer", "table_records", "track_topic"]

log = logging.getLogger("fengqiao.worker")

Clock = Callable[[], datetime]

# a delivery still waiting after this long gets the producer's queues logged
SLOW_DELIVERY_S = 10.0


class DeliveryTimeout(Exception):
    """The broker did not take a batch's output within ``worker_delivery_timeout_s``."""


@dataclass
class WorkerContext:
    """What feature modules need to register agents: configuration, topics, shared state."""

    config: WorkerConfig
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
    # the group has given this worker an assignment (possibly empty) at least once
    joined: bool = False
    connection_log: ConnectionLog = field(default_factory=ConnectionLog)
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
        await self.delivered(await self.queue(outs, tables))

    async def queue(
        self, outs: list[Out], tables: Sequence[WriteBack] = ()
    ) -> list[asyncio.Future[Any]]:
        """What ``publish`` does up to the broker: send ``outs`` and the tables' changes,
        returning the deliveries to wait for (``delivered``) before acknowledging the input."""
        try:
            return await self._send(outs, tables)
        except Exception as exc:
            await self._undelivered(exc)
            raise

    async def delivered(self, sent: list[asyncio.Future[Any]]) -> None:
        """Wait until the broker has every message ``queue`` sent; stop the worker if not."""
        try:
            # one by one: they resolve a producer batch at a time, so nearly all are done
            # when reached (asyncio.gather cost 1.5 µs per future, this 0.1)
            for delivery in sent:
                if delivery.done():
                    delivery.result()
                else:
                    await self._delivered(delivery)
        except Exception as exc:
            await self._undelivered(exc)
            raise

    async def _undelivered(self, exc: Exception) -> None:
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

    async def _delivered(self, delivered: asyncio.Future[Any]) -> None:
        """Wait for one delivery, logging the producer's queues when it is slow and raising
        ``DeliveryTimeout`` past ``worker_delivery_timeout_s``."""
        timeout = self.config.delivery_timeout_s
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
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        records: dict[tuple[str, int], list[Record]] = {}
        n = self.config.topic_partitions
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
            records.setdefault((name, partition), []).append(
                (out.key.encode(), orjson.dumps(out.value))
            )
        for (topic, partition), items in grouped.items():
            queued = records.setdefault((self.topic_name(topic), partition), [])
            queued.extend((None, value) for value in items_messages(items))
        for view in tables:
            for where, changed in table_records(view).items():
                records.setdefault(where, []).extend(changed)
        # each partition's records in their order, queued straight into the producer's batches
        sent: list[asyncio.Future[Any]] = []
        for (name, partition), batch in records.items():
            sent.extend(await send_records(producer, name, partition, batch))
        return sent

    def _track_all(self, producer: Any) -> None:
        """Track every topic the worker sends to in the producer's metadata before the first
        send: its topics and its tables' changelogs (see ``track_topic``). Every name ``_send``
        and ``table_records`` send to is one of these."""
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
        return WriteBack(table, partition_of or _event_partition, reads=rows(table))


PartitionOf = Callable[[str, Any], int]

# An internal message's most bytes: half of Kafka's default message.max.bytes (1 MB), so a
# burst (a tick that breaches thousands of SLA clocks, each feeding risk) is split, not refused
ITEMS_MAX_BYTES = 512 * 1024


def items_messages(items: list[dict[str, Any]], limit: int = ITEMS_MAX_BYTES) -> list[bytes]:
    """``{"items": [...]}`` messages carrying ``items`` in order, each at most ``limit``
    bytes (an item larger than that alone goes alone): one message in the usual case."""
    value = orjson.dumps({"items": items})
    if len(value) <= limit or len(items) == 1:
        return [value]
    half = len(items) // 2
    return items_messages(items[:half], limit) + items_messages(items[half:], limit)


def _event_partition(key: str, value: Any) -> int:
    event = current_event()
    if event is None:
        raise RuntimeError("a table was changed outside of a stream event")
    return int(event.message.partition)


def table_records(view: WriteBack) -> dict[tuple[str, int], list[Record]]:
    """Apply the view's changes to its faust table and return them as its changelog's
    records by (topic, partition), one per changed key, as the table itself would write them
    (same key and value encoding, a tombstone for a delete)."""
    table: Any = view.base  # a faust Table
    topic = table.changelog_topic
    name = topic.get_topic_name()
    store = table.data
    key_partition = key_partitions(table)
    records: dict[tuple[str, int], list[Record]] = {}
    encode = json_encoder(table)
    for key, value, partition in view.changes():
        if partition is None:  # table_view always says where a change goes
            raise RuntimeError("a table change without its changelog partition")
        if encode is not None:
            raw_key = encode(key)
        else:
            raw_key, _ = topic.prepare_key(key, table.key_serializer)
        if value is DELETED:
            store.pop(key, None)
            raw_value = None
            if key_partition is not None:
                key_partition.pop(key, None)
        else:
            store[key] = value
            if encode is not None:
                raw_value = encode(value)
            else:
                raw_value, _ = topic.prepare_value(value, table.value_serializer)
            if key_partition is not None:
                # the memory store forgets rows of revoked partitions by this map
                key_partition[key] = partition
        records.setdefault((name, partition), []).append((raw_key, raw_value))
    return records


def _make_topics(app: faust.App, config: WorkerConfig) -> dict[str, faust.TopicT]:
    topics: dict[str, faust.TopicT] = {}
    for spec in TOPICS:
        topics[spec.name] = app.topic(
            config.topic(spec.name),
            key_serializer="raw",
            value_serializer="raw",
            internal=False,
        )
    return topics


def create_app(
    config: WorkerConfig,
    *,
    router: Router | None = None,
    clock: Clock | None = None,
    features: tuple[Callable[[WorkerContext], None], ...] | None = None,
) -> tuple[faust.App, WorkerContext]:
    """The worker's faust app and the context its agents share. Refuses to build one on
    library versions the runtime's fixes were not tested for (unless told to), and installs
    the fixes (or raises)."""
    for warning in versions.check(config.allow_untested_runtime):
        log.warning("%s", warning)
    installed = patches.apply()
    log.info("runtime patches installed: %s", ", ".join(installed))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.app_id,
        broker=[f"kafka://{h}" for h in config.bootstrap],
        broker_credentials=config.broker_credentials,
        store="memory://",
        topic_partitions=config.topic_partitions,
        topic_replication_factor=config.topic_replication,
        web_port=config.web_port,
        web_host=config.web_host,
        # faust listens on web_bind (0.0.0.0 unless set), not on web_host
        web_bind=config.web_host,
        datadir=str(config.data_dir),
        producer_acks=-1,
        producer_linger=0.01,
        # a routed case is about 3.7 kB: at the default 16 KiB a producer batch held four,
        # and every batch costs its own bookkeeping and request entry
        producer_max_batch_size=256 * 1024,
        stream_wait_empty=False,
        broker_commit_every=200,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        table_cleanup_interval=60.0,
        table_standby_replicas=config.standby_replicas,
        consumer_group_instance_id=config.instance_id,
        broker_session_timeout=config.session_timeout_s,
        # three heartbeats per session, as Kafka advises
        broker_heartbeat_interval=min(3.0, config.session_timeout_s / 3),
    )
    without_monitor_sensor(app)
    set_fetch(app, config.fetch_min_bytes, config.fetch_max_wait_ms)
    stream_clock = StreamClock() if clock is None and config.clock == "stream" else None
    ctx = WorkerContext(
        config=config,
        app=app,
        topics=_make_topics(app, config),
        router=router or load_router(config.ruleset_path, config.catalogue_path),
        clock=clock or stream_clock or wall_clock,
        wall=clock or wall_clock,
        stream_clock=stream_clock,
    )
    for feature in features if features is not None else default_features():
        feature(ctx)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub types no async receiver
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        ctx.assigned_partitions = len(assigned)
        ctx.joined = True
        ctx.connection_log.reachable()  # the coordinator answered
        log.info("worker ready: %d partitions assigned", len(assigned))

    @app.timer(interval=1.0)
    async def _connection_state() -> None:
        ctx.connection_log.tick()

    watch = stalls.StallWatch()

    @app.timer(interval=stalls.STALL_S / 2)
    async def _stalled_partitions() -> None:
        try:
            await stalls.check(app.consumer, watch, time.monotonic())
        except Exception as exc:  # the broker may be away: the next round tries again
            log.info("the stalled-partition check failed (%s: %s)", type(exc).__name__, exc)

    recovery_watch = stalls.StallWatch(recovering.RECOVERY_STALL_S)

    @app.timer(interval=recovering.RECOVERY_STALL_S / 4)
    async def _stalled_recovery() -> None:
        try:
            await recovering.check(app, recovery_watch, time.monotonic())
        except Exception as exc:  # a rebalance or the broker away: the next round tries again
            log.info("the table-recovery check failed (%s: %s)", type(exc).__name__, exc)

    _health_pages(ctx)
    return app, ctx


def _health_pages(ctx: WorkerContext) -> None:
    """``/healthz``: the process answers. ``/readyz``: it has joined the group and reaches
    Kafka (no connection errors in the last few seconds)."""
    app = ctx.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        kafka = ctx.connection_log.connected
        ready = ctx.joined and kafka
        body = {
            "ready": ready,
            "joined_group": ctx.joined,
            "kafka_reachable": kafka,
            "assigned": ctx.assigned_partitions,
        }
        return web.json(body, status=200 if ready else 503)


def default_features() -> tuple[Callable[[WorkerContext], None], ...]:
    """``register`` of every module in ``streams/agents/``, in the order of their ``ORDER``."""
    import streams.agents as pkg

    mods = [
        importlib.import_module(f"streams.agents.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
    ]
    return tuple(m.register for m in sorted(mods, key=lambda m: getattr(m, "ORDER", 100)))
