"""Scale-out: two workers share the partitions; stopping one under load loses nothing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from fengqiao import localkafka
from fengqiao.bench import make_events
from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, drain_topic, read_topic

pytestmark = pytest.mark.kafka


def _worker(s: Settings, tmp_path: Path, i: int) -> WorkerProcess:
    own = s.model_copy(update={"worker_web_port": localkafka.free_port()})
    return WorkerProcess(
        own,
        tmp_path / f"worker-{i}.log",
        extra_env={
            "FENGQIAO_WORKER_DATA_DIR": str(tmp_path / f"wd-{i}"),
            "FENGQIAO_LOG_LIBRARIES": "1",  # faust's rebalance log, for whoever reads a failure
        },
    )


def test_stopping_one_of_two_workers_under_load_loses_nothing(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    s = kafka_settings.model_copy(update={"topic_partitions": 4})
    from fengqiao.admin import create_topics

    # the fixture made 2 partitions; use a fresh prefix with 4 so both workers get some
    s = s.model_copy(update={"topic_prefix": s.topic_prefix + "rb.", "app_id": s.app_id + "-rb"})
    create_topics(s)
    events = make_events(3000, "rebalance")
    ids_in = {json.loads(v)["id"] for _t, _k, v in events}
    a, b = _worker(s, tmp_path, 0), _worker(s, tmp_path, 1)
    a.start()
    b.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            a.stats().get("assigned") and b.stats().get("assigned")
        ):
            time.sleep(0.5)
        assert a.stats()["assigned"] > 0 and b.stats()["assigned"] > 0, "both share partitions"

        producer = KafkaProducer(bootstrap_servers=s.resolved_bootstrap(), acks="all")
        sent = threading.Event()

        def feed() -> None:
            for i, (topic, key, value) in enumerate(events):
                producer.send(s.topic(topic), key=key, value=value)
                if i % 100 == 0:
                    time.sleep(0.1)  # ~1000 events/s: a steady load, not one burst
            producer.flush()
            sent.set()

        feeder = threading.Thread(target=feed)
        feeder.start()
        time.sleep(1.0)
        b.stop()  # graceful stop mid-stream: its partitions move to a
        feeder.join()
        assert sent.is_set()
        routed = read_topic(
            s,
            "cases.routed",
            until=lambda ms: {m["data"]["case_id"] for m in ms} >= ids_in,
            timeout_s=180,
        )
    finally:
        a.stop()
        b.stop()
    routed += [m for m in drain_topic(s, "cases.routed", quiet_s=2)][len(routed) :]
    ids_out = {m["data"]["case_id"] for m in routed}
    assert ids_out == ids_in
    # at-least-once may repeat a message; a repeat carries the same id and the same decision,
    # so an idempotent sink stores each case once
    by_id: dict[str, dict] = {}
    for m in routed:
        assert by_id.setdefault(m["id"], m["data"]) == m["data"]
    assert len(by_id) == len(ids_in)
