"""aiokafka's producer forgets topics it never tracked, and their queued batches wait forever.

The producer starts tracking no topic, and a metadata refresh then asks for all of them.
Sending to a topic it knows so does not track it; the first send to a topic it does not know
(one created since) tracks that topic, and from then on each metadata refresh asks for the
tracked topics only and replaces the whole picture: a batch queued for an untracked topic has
no leader any more, and the sender asks for metadata again and again until the batch's TTL
(faust: 1,200 s). This stalled a worker's batch in CI.
``streams.runtime.producer.track_topic`` tracks every topic before the worker's first send to
it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.runtime.producer import track_topic

pytestmark = pytest.mark.kafka


def _create(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in names])
    finally:
        admin.close()


async def _send_then_meet_a_new_topic(bootstrap: str, track: bool) -> bool:
    """Queue a record for a known topic, then send to a topic created after the producer
    started; True if the first record was delivered within 10 s."""
    tag = uuid.uuid4().hex[:8]
    known, later = f"pm-{tag}-known", f"pm-{tag}-later"
    _create(bootstrap, known)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200, acks="all")
    await producer.start()
    try:
        # a refresh while nothing is tracked asks for every topic (as any refresh a worker's
        # producer makes before its first send to a topic it does not know)
        await producer.client.force_metadata_update()
        assert producer.client.cluster.partitions_for_topic(known) == {0, 1}
        _create(bootstrap, later)
        if track:
            track_topic(producer, known)
        queued = await producer.send(known, b"x", partition=0)  # lingers 200 ms
        if track:
            track_topic(producer, later)
        await producer.send(later, b"y", partition=0)  # a topic the producer must look up
        done, _ = await asyncio.wait({queued}, timeout=10)
        if not done:  # tracking the topic lets the stranded batch go (and the producer stop)
            track_topic(producer, known)
            await asyncio.wait_for(queued, timeout=30)
        return bool(done)
    finally:
        await producer.stop()


def test_an_untracked_topics_batch_is_stranded_by_the_producers_own_lookup(
    kafka_bootstrap: str,
) -> None:
    assert asyncio.run(_send_then_meet_a_new_topic(kafka_bootstrap, track=False)) is False


def test_tracked_topics_keep_their_metadata(kafka_bootstrap: str) -> None:
    assert asyncio.run(_send_then_meet_a_new_topic(kafka_bootstrap, track=True)) is True
