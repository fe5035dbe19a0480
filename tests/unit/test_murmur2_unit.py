"""The worker's murmur2 equals kafka-python's (the Java client's) for every length and byte."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2 as kafka_murmur2

from streams.murmur2 import murmur2


def test_equal_to_kafka_python_for_random_keys_of_every_length() -> None:
    rng = random.Random(5)
    for length in range(0, 70):
        for _ in range(40):
            data = bytes(rng.randrange(256) for _ in range(length))
            assert murmur2(data) == kafka_murmur2(data), data


def test_known_keys() -> None:
    # case ids, committee ids and incident keys as the worker hashes them
    for key in ("sample-d2f93759-00000044", "shacheng-street", "r1|longwan/shacheng", "", "é"):
        data = key.encode()
        assert murmur2(data) == kafka_murmur2(data)
