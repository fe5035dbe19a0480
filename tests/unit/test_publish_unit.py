"""WorkerContext.publish against a recording producer: grouping, table changes, failure."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

import streams.app
from fengqiao.settings import Settings
from fengqiao.workerwiring import worker_config
from streams.app import DeliveryTimeout, WorkerContext
from streams.diagnose import producer_state
from streams.intake import Out
from streams.watch import partition_of


class Client:
    """The producer's metadata client: which topics it tracks."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self._topics: set[str] = set()
        self.log = log

    def add_topic(self, topic: str) -> None:
        self.log.append(("track", topic))
        self._topics.add(topic)


class Producer:
    """What publish uses of the aiokafka producer; topics have ``partitions`` partitions."""

    def __init__(
        self, fail_topic: str | None = None, partitions: int = 6, stall_topic: str | None = None
    ) -> None:
        self.sent: list[tuple[str, Any, Any, int | None]] = []
        self.log: list[tuple[str, str]] = []  # ("track" | "send", topic) in order
        self.client = Client(self.log)
        self.fail_topic = fail_topic
        self.stall_topic = stall_topic
        self.partitions = partitions

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    async def send(
        self, topic: str, value: Any = None, key: Any = None, partition: int | None = None
    ) -> Any:
        self.sent.append((topic, key, value, partition))
        self.log.append(("send", topic))
        fut = asyncio.get_running_loop().create_future()
        if topic == self.fail_topic:
            fut.set_exception(KafkaTimeoutError("no ack in time"))
        elif topic == self.stall_topic:
            pass  # never delivered
        else:
            fut.set_result(None)
        return fut


class FaustProducer:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer

    def _ensure_producer(self) -> Producer:
        return self.producer


class App:
    def __init__(self, producer: Producer) -> None:
        self.producer = FaustProducer(producer)
        self.crashed: list[BaseException] = []

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name

    def prepare_key(self, key: Any, serializer: Any) -> tuple[bytes, None]:
        return json.dumps(key).encode(), None

    def prepare_value(self, value: Any, serializer: Any) -> tuple[bytes, None]:
        return json.dumps(value).encode(), None


class Store(dict[str, Any]):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self._key_partition: dict[str, int] = {}


class Table(dict[str, Any]):
    """What table_records uses of a faust table: its store, changelog topic and serializers."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.data = store
        self.changelog_topic = Topic("app-sla-changelog")
        self.key_serializer = self.value_serializer = "json"


def context(producer: Producer, **settings: Any) -> tuple[WorkerContext, App]:
    app = App(producer)
    ctx = WorkerContext(
        config=worker_config(Settings(topic_partitions=4, **settings)),
        app=app,  # type: ignore[arg-type]
        topics={"cases.routed": Topic("p.cases.routed"), "internal.sla": Topic("p.sla")},  # type: ignore[dict-item]
        router=None,  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC),
        internal={"internal.sla"},
    )
    return ctx, app


def test_internal_items_go_as_one_message_per_partition_and_the_rest_one_by_one() -> None:
    producer = Producer()
    ctx, app = context(producer)
    keys = [f"case-{i}" for i in range(12)]
    outs = [Out("internal.sla", k, {"k": k}) for k in keys]
    outs += [Out("cases.routed", "committee-1", {"id": "r1"})]
    asyncio.run(ctx.publish(outs))
    routed = [m for m in producer.sent if m[0] == "p.cases.routed"]
    # keyed: the partition of the key over the topic's real count (6), not the setting (4)
    part = partition_of("committee-1", 6)
    assert routed == [("p.cases.routed", b"committee-1", b'{"id":"r1"}', part)]
    internal = {m[3]: json.loads(m[2])["items"] for m in producer.sent if m[0] == "p.sla"}
    expected: dict[int, list[dict[str, str]]] = {}
    for k in keys:
        expected.setdefault(partition_of(k, 4), []).append({"k": k})
    assert internal == expected and len(internal) > 1
    assert app.crashed == []


def test_table_changes_reach_the_store_and_the_changelog_with_their_partitions() -> None:
    producer = Producer()
    ctx, _app = context(producer)
    table = Table(Store({"gone": {"v": 0}}))
    view = ctx.table_view(table, lambda key, value: 3 if key == "gone" else 1)
    view["new"] = {"v": 1}
    del view["gone"]
    asyncio.run(ctx.publish([], [view]))
    assert dict(table.data) == {"new": {"v": 1}}
    assert table.data._key_partition == {"new": 1}
    assert sorted(producer.sent, key=lambda m: m[1]) == [
        ("app-sla-changelog", b'"gone"', None, 3),  # a tombstone
        # a json table's rows are encoded as faust's json codec does (orjson, compact)
        ("app-sla-changelog", b'"new"', b'{"v":1}', 1),
    ]


def test_an_undelivered_batch_stops_the_worker_and_is_not_acknowledged() -> None:
    ctx, app = context(Producer(fail_topic="p.cases.routed"))
    with pytest.raises(KafkaTimeoutError):
        asyncio.run(ctx.publish([Out("cases.routed", "c", {"id": "r"})]))
    assert len(app.crashed) == 1 and isinstance(app.crashed[0], KafkaTimeoutError)


def test_a_stalled_delivery_is_logged_then_stops_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(streams.app, "SLOW_DELIVERY_S", 0.05)
    ctx, app = context(Producer(stall_topic="p.cases.routed"), worker_delivery_timeout_s=0.3)
    with (
        caplog.at_level("WARNING", logger="fengqiao.worker"),
        pytest.raises(DeliveryTimeout, match="not delivered in 0.3 s"),
    ):
        asyncio.run(ctx.publish([Out("cases.routed", "c", {"id": "r"})]))
    assert len(app.crashed) == 1 and isinstance(app.crashed[0], DeliveryTimeout)
    slow = [r.getMessage() for r in caplog.records if "has waited" in r.getMessage()]
    assert len(slow) == 1 and "producer internals not readable" in slow[0]


def test_producer_state_reads_a_real_aiokafka_producer() -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    async def state() -> str:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started
        acc = producer._message_accumulator
        for _ in range(3):
            await acc.add_message(TopicPartition("fq.cases.routed", 1), b"k", b"v", timeout=1)
        return producer_state(producer)

    line = asyncio.run(state())
    assert line.startswith("queued=['fq.cases.routed[1]:1b/3r/0.0s'] in_flight_batches=0 ")
    assert "in_flight_nodes=[] muted=0 sender=none" in line


def test_every_topic_is_tracked_by_the_producer_before_the_first_send_to_it() -> None:
    producer = Producer()
    ctx, app = context(producer)
    app.tables = {"sla": Table(Store())}  # type: ignore[attr-defined]
    asyncio.run(ctx.publish([Out("cases.routed", "c", {"id": "r"}), Out("internal.sla", "k", {})]))
    tracked = [t for what, t in producer.log if what == "track"]
    assert sorted(tracked) == ["app-sla-changelog", "p.cases.routed", "p.sla"]
    first_send = next(i for i, (what, _) in enumerate(producer.log) if what == "send")
    assert all(what == "track" for what, _ in producer.log[:3]) and first_send == 3
    asyncio.run(ctx.publish([Out("cases.routed", "c", {"id": "r"})]))
    assert len([1 for what, _ in producer.log if what == "track"]) == 3  # once each


def test_keyed_outputs_get_the_partition_the_producers_partitioner_would_give() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    keys = [f"committee-{i}" for i in range(200)] + ["龙湾区人民调解委员会", ""]
    for n in (1, 4, 6, 12):
        parts = list(range(n))
        assert [partition_of(k, n) for k in keys] == [
            DefaultPartitioner()(k.encode(), parts, parts) for k in keys
        ]


def test_a_burst_of_items_for_one_partition_is_split_into_messages_under_the_limit() -> None:
    from streams.app import ITEMS_MAX_BYTES, items_messages

    items = [{"id": f"case-{i}/sla", "street": "shacheng", "pad": "x" * 150} for i in range(12000)]
    messages = items_messages(items)
    assert len(messages) > 1 and all(len(m) <= ITEMS_MAX_BYTES for m in messages)
    assert [i for m in messages for i in json.loads(m)["items"]] == items  # all, in order
    assert len(items_messages(items[:10])) == 1  # the usual batch: one message
    big = [{"blob": "y" * (ITEMS_MAX_BYTES + 10)}]
    assert len(items_messages(big)) == 1  # one item too large alone still goes (and fails loudly)


def test_publish_sends_a_burst_for_one_internal_partition_as_several_messages() -> None:
    from streams.app import ITEMS_MAX_BYTES

    producer = Producer()
    ctx, app = context(producer)
    # keys that all hash to one partition of the internal topic
    keys = [k for k in (f"case-{i}" for i in range(40000)) if partition_of(k, 4) == 0][:9000]
    outs = [Out("internal.sla", k, {"k": k, "pad": "z" * 100}) for k in keys]
    asyncio.run(ctx.publish(outs))
    sent = [m for m in producer.sent if m[0] == "p.sla"]
    assert len(sent) > 1 and {m[3] for m in sent} == {0}
    assert all(len(m[2]) <= ITEMS_MAX_BYTES for m in sent)
    assert [i["k"] for m in sent for i in json.loads(m[2])["items"]] == keys
    assert app.crashed == []
