"""The aiokafka producer under faust's, and keeping a topic in its metadata.

The worker sends straight to it: faust's per-message send path (futures, buffers, sensors;
none used here) cost more than the rest of the send.
"""

from __future__ import annotations

from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition


def kafka_producer(app: faust.App) -> Any:
    """The aiokafka producer under faust's (started by faust with the app)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def track_topic(producer: Any, name: str) -> None:
    """Have the aiokafka producer keep ``name`` in its metadata: call before sending to it.

    The producer starts tracking no topic, and a metadata refresh then asks for all of them;
    sending to a topic it knows so does not track it. The first send to a topic it does not
    know yet (a changelog faust just created) tracks that one, and from then on every refresh
    asks for the tracked topics only and forgets the rest. A batch queued for a forgotten
    topic then waits for a leader until its TTL (faust: 1,200 s): a worker stalled so in CI
    (``tests/real/test_producer_metadata_kafka.py`` shows it on a real broker)."""
    client = producer.client
    if name not in client._topics:
        client.add_topic(name)


def with_idempotence(original: Any) -> Any:
    """Wrap faust's ``Producer._settings_extra`` so every aiokafka producer it makes is
    idempotent with acks=all: a retried batch then cannot be written twice. faust has no
    public setting for it; it sets both only for exactly-once transactions."""

    def settings_extra(self: Any) -> Any:
        return {**original(self), "acks": "all", "enable_idempotence": True}

    return settings_extra


Record = tuple[bytes | None, bytes | None]


async def send_records(
    producer: Any, topic: str, partition: int, records: list[Record]
) -> list[Any]:
    """Queue ``records`` (key, value) for one partition, in order, and return the futures of
    the producer batches that hold them: each resolves when its batch is delivered (or fails
    with the batch's error), so awaiting them all waits for every record.

    ``AIOKafkaProducer.send`` costs about 14 µs a message in Python (a metadata wait, a
    partition object, a log call and a future per message, resolved one by one); this appends
    to the partition's open batch the way ``MessageAccumulator.add_message`` does and makes no
    per-message future. A full batch, a closed producer or a failed one goes through
    ``add_message`` itself, which waits for room or raises as ``send`` would. The caller
    tracks ``topic`` in the producer's metadata (``track_topic``). A producer that is not
    aiokafka's gets each record through its ``send``."""
    if not records:
        return []
    if not isinstance(producer, AIOKafkaProducer):
        # any other producer with aiokafka's public ``send`` (the unit tests' recorder)
        return [await producer.send(topic, v, key=k, partition=partition) for k, v in records]

    acc = producer._message_accumulator
    if producer.client.cluster.partitions_for_topic(topic) is None:
        await producer.client._wait_on_metadata(topic)
    tp = TopicPartition(topic, partition)
    timeout = producer._request_timeout_ms / 1000
    futures: list[Any] = []
    batch: Any = None
    for key, value in records:
        queued = acc._batches.get(tp)
        last = queued[-1] if queued else None
        if (
            last is not None
            and acc._exception is None
            and not acc._closed
            and last._builder.append(timestamp=None, key=key, value=value, headers=[]) is not None
        ):
            current = last
        else:
            # no open batch, or a full one: add_message makes the next batch (or waits for
            # room, or raises the producer's error); the records after it follow into that
            # batch and bring its future again (awaiting a future twice is harmless)
            futures.append(await acc.add_message(tp, key, value, timeout))
            batch = None
            continue
        if current is not batch:
            batch = current
            futures.append(batch.future)
    return futures
