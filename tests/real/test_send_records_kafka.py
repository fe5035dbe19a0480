"""``send_records`` queues records straight into aiokafka's producer batches: on a real broker
every record arrives once, in order, with its key, value and partition (tombstones
included), across batch roll-overs, and the returned futures wait for all of them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from streams.runtime.producer import Record, send_records, track_topic

pytestmark = pytest.mark.kafka


async def _round_trip(bootstrap: str, topic: str, per_partition: int) -> dict[int, list[Record]]:
    # small batches, so the records roll over into many of them while queued
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, max_batch_size=4096
    )
    await producer.start()
    sent: dict[int, list[Record]] = {}
    try:
        track_topic(producer, topic)
        futures = []
        for p in (0, 1):
            records: list[Record] = [
                (f"k{p}-{i}".encode(), None if i % 97 == 0 else f"v{p}-{i}-{'x' * 60}".encode())
                for i in range(per_partition)
            ]
            sent[p] = records
            futures += await send_records(producer, topic, p, records)
        # one future per producer batch, far fewer than records, and each one delivered
        assert 2 < len(futures) < per_partition
        done = await asyncio.gather(*futures)
        assert {m.partition for m in done} == {0, 1} and all(m.topic == topic for m in done)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: dict[int, list[Record]] = {0: [], 1: []}
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        while sum(map(len, got.values())) < 2 * per_partition:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            for tp, messages in batch.items():
                got[tp.partition] += [(m.key, m.value) for m in messages]
    finally:
        await consumer.stop()
    assert got == sent
    return got


def test_records_arrive_once_in_order_with_keys_values_and_tombstones(
    kafka_bootstrap: str,
) -> None:
    topic = f"sr-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","))
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    got = asyncio.run(_round_trip(kafka_bootstrap, topic, 3000))
    assert got[0][0] == (b"k0-0", None) and got[1][5][1] is not None
