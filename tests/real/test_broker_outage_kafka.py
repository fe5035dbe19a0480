"""A broker outage under a running worker, on a broker of the test's own (the session's broker
stays up for the other tests): connection errors are logged once per change of state with a
count, and routing resumes soon after the broker is back."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.bench import make_events
from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, from_start

pytestmark = pytest.mark.kafka

OUTAGE_S = 20.0
RESUME_BOUND_S = 30.0  # after the broker answers again


def _send(s: Settings, events: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=s.resolved_bootstrap(), acks="all")
    for topic, key, value in events:
        producer.send(s.topic(topic), key=key, value=value)
    producer.flush()
    producer.close()


def _feed_through(s: Settings, events: list[tuple[str, bytes, bytes]], acked: set[str]) -> Any:
    """Send ``events`` at about 100 a second from a thread, retrying through the outage as a
    hotline would; ``acked`` gets the id of every event the broker acknowledged."""
    producer = KafkaProducer(
        bootstrap_servers=s.resolved_bootstrap(),
        acks="all",
        retries=1000,
        retry_backoff_ms=500,
        max_block_ms=120_000,
    )

    def feed() -> None:
        for i, (topic, key, value) in enumerate(events):
            event_id = json.loads(value)["id"]
            future = producer.send(s.topic(topic), key=key, value=value)
            future.add_callback(lambda _md, eid=event_id: acked.add(eid))
            if i % 10 == 9:
                time.sleep(0.1)
        producer.flush()
        producer.close()

    thread = threading.Thread(target=feed)
    thread.start()
    return thread


def _routed_times(s: Settings) -> list[tuple[float, str]]:
    """(broker timestamp in s, case id) of every routed message so far."""
    consumer = from_start(s, "cases.routed", consumer_timeout_ms=3000)
    try:
        return [(m.timestamp / 1000, json.loads(m.value)["data"]["case_id"]) for m in consumer]
    finally:
        consumer.close()


def _wait_routed(s: Settings, want: set[str], timeout_s: float) -> set[str]:
    consumer = from_start(s, "cases.routed")
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not want <= seen:
            for msgs in consumer.poll(timeout_ms=200).values():
                seen.update(json.loads(m.value)["data"]["case_id"] for m in msgs)
        return seen
    finally:
        consumer.close()


def _status(s: Settings, path: str) -> int:
    url = f"http://127.0.0.1:{s.worker_web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _wait_status(s: Settings, path: str, want: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _status(s, path) == want:
            return True
        time.sleep(0.5)
    return False


def test_a_broker_outage_logs_a_few_lines_and_routing_resumes(tmp_path: Path) -> None:
    base = Settings()
    data_dir = tmp_path / "kafka"
    port, controller = localkafka.free_port(), localkafka.free_port()

    def broker_up() -> str:
        bootstrap, _ = localkafka.start(
            data_dir=data_dir,
            cache_dir=base.cache_dir,
            version=base.kafka_version,
            port=port,
            controller_port=controller,
            partitions=2,
        )
        return bootstrap

    s = Settings(
        kafka_bootstrap_servers=broker_up(),
        topic_prefix="out.",
        app_id="fq-outage",
        home=tmp_path / "home",
        worker_web_port=localkafka.free_port(),
        topic_partitions=2,
    )
    worker = WorkerProcess(
        s,
        tmp_path / "worker.log",
        extra_env={"FENGQIAO_WORKER_DATA_DIR": str(tmp_path / "wd"), "FENGQIAO_LOG_LIBRARIES": "1"},
    )
    try:
        create_topics(s)
        worker.start()
        before, after = make_events(200, "outage-a"), make_events(200, "outage-b", seed=11)
        during = make_events(2500, "outage-c", seed=13)  # 25 s at 100 a second
        acked: set[str] = set()
        ids_before = {json.loads(v)["id"] for _t, _k, v in before}
        ids_after = {json.loads(v)["id"] for _t, _k, v in after}
        _send(s, before)
        assert ids_before <= _wait_routed(s, ids_before, 60)
        assert _wait_status(s, "/readyz", 200, 30) and _status(s, "/healthz") == 200
        log_start = worker.log_path.stat().st_size
        feeder = _feed_through(s, during, acked)
        time.sleep(2)
        # killed, as a crashed broker or a lost machine: no controlled shutdown
        pid = localkafka.running_pid(data_dir)
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        down_at = time.monotonic()
        # not ready while Kafka is away, alive all along
        assert _wait_status(s, "/readyz", 503, OUTAGE_S), worker.log_tail()
        assert _status(s, "/healthz") == 200
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        broker_up()
        back_at, back_wall = time.monotonic(), time.time()
        _send(s, after)
        routed = _wait_routed(s, ids_after, RESUME_BOUND_S + 60)
        all_routed = time.monotonic() - back_at
        feeder.join()
        assert ids_after <= routed, worker.log_tail()
        # nothing the broker acknowledged during the outage is lost
        assert acked <= _wait_routed(s, acked, 60), worker.log_tail()
        resumed = min(t for t, _cid in _routed_times(s) if t >= back_wall) - back_wall
        assert resumed < RESUME_BOUND_S, worker.log_tail()
        # the connection log says when Kafka is back, with the count of what it held back
        assert _wait_status(s, "/readyz", 200, 30), worker.log_tail()
        text = worker.log_path.read_bytes()[log_start:].decode(errors="replace")
        lines = text.splitlines()
        errors = [line for line in lines if "ERROR" in line]
        back = re.findall(r"Kafka reachable again after [\d.]+ s; (\d+) connection errors", text)
        print(
            f"outage {OUTAGE_S:.0f} s under load: routing resumed {resumed:.1f} s after the broker "
            f"was back (all {len(ids_after)} sent then routed after {all_routed:.1f} s, "
            f"{len(acked)} of {len(during)} sent through the outage acknowledged and routed); "
            f"{len(errors)} ERROR lines, {len(lines)} lines in all; connection errors "
            f"held back: {back}"
        )
        assert len(back) == 1 and int(back[0]) > 1, text[-4000:]
        assert sum("Kafka unreachable" in line for line in lines) == 1, text[-4000:]
        assert len(errors) < 50, "\n".join(errors[:60])
    finally:
        worker.stop()
        localkafka.stop(data_dir)
