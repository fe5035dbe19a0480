"""Recovery on the real broker: a worker SIGKILLed and restarted under load, and a worker
killed for good whose partitions the other takes over.

The worker joins its group as a static member (``worker_static_membership``), so a restart
with the same instance id gets its partitions back at once instead of waiting out the dead
member's session (60 s before). A worker that never comes back holds its partitions until
its session times out (``worker_session_timeout_s``, 15 s by default).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaProducer

from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.bench import make_events
from fengqiao.settings import Settings
from streams.runtime.patches import PATCHES
from tests.kafkatools import WorkerProcess, from_start

pytestmark = pytest.mark.kafka

GAP_BOUND_S = 30.0  # the target is 10 s; the bound leaves room for a busy CI machine


def _worker(s: Settings, tmp_path: Path, i: int) -> WorkerProcess:
    own = s.model_copy(update={"worker_web_port": localkafka.free_port()})
    return WorkerProcess(
        own,
        tmp_path / f"worker-{i}.log",
        extra_env={
            "FENGQIAO_WORKER_DATA_DIR": str(tmp_path / f"wd-{i}"),
            "FENGQIAO_LOG_LIBRARIES": "1",
        },
    )


def _feed(s: Settings, events: list[tuple[str, bytes, bytes]], per_s: float) -> threading.Thread:
    producer = KafkaProducer(bootstrap_servers=s.resolved_bootstrap(), acks="all")

    def feed() -> None:
        step = 50
        for i in range(0, len(events), step):
            for topic, key, value in events[i : i + step]:
                producer.send(s.topic(topic), key=key, value=value)
            time.sleep(step / per_s)
        producer.flush()
        producer.close()

    t = threading.Thread(target=feed)
    t.start()
    return t


def _routed(s: Settings, want: set[str], timeout_s: float) -> list[tuple[float, str]]:
    """(broker timestamp in s, case id) of every routed message, until every id in ``want``
    was seen and nothing new came for 2 s, or ``timeout_s``."""
    consumer = from_start(s, "cases.routed")
    out: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=2000)
            got = [
                (m.timestamp / 1000, json.loads(m.value)["data"]["case_id"])
                for msgs in batch.values()
                for m in msgs
            ]
            out.extend(got)
            if not got and want <= {cid for _t, cid in out}:
                return out
        return out
    finally:
        consumer.close()


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def _longest_gap(times: list[float], after: float) -> float:
    """The longest pause in routing that ends after ``after`` (the kill)."""
    ts = sorted(times)
    return max((b - a for a, b in zip(ts, ts[1:], strict=False) if b > after), default=0.0)


def test_a_worker_killed_and_restarted_under_load_resumes_within_seconds(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    s = kafka_settings.model_copy(
        update={"topic_prefix": kafka_settings.topic_prefix + "rc.", "app_id": "fq-rc"}
    )
    create_topics(s)
    events = make_events(3000, "recovery")
    ids_in = {json.loads(v)["id"] for _t, _k, v in events}
    w = _worker(s, tmp_path, 0)
    w.start()
    try:
        # the fixes are installed in the running worker, read back from faust's classes
        assert w.stats()["runtime_patches"] == [p.name for p in PATCHES]
        url = f"http://127.0.0.1:{w.settings.worker_web_port}"
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            # ready as soon as it has partitions: the assignment proves Kafka answers
            assert json.loads(resp.read())["ready"] is True
        # the web server listens on the configured host (127.0.0.1) only
        outward = _outward_address()
        if outward is not None:
            with pytest.raises(OSError):
                socket.create_connection((outward, w.settings.worker_web_port), timeout=2)
        feeder = _feed(s, events, per_s=200)  # 15 s of steady load
        time.sleep(4)
        killed_at = time.time()
        w.kill()
        w.start(timeout_s=GAP_BOUND_S)
        ready_after = time.time() - killed_at
        feeder.join()
        routed = _routed(s, ids_in, timeout_s=120)
    finally:
        w.stop()
    assert {cid for _t, cid in routed} == ids_in
    gap = _longest_gap([t for t, _cid in routed], killed_at)
    print(f"restart: ready {ready_after:.1f} s after the kill; longest routing gap {gap:.1f} s")
    assert gap < GAP_BOUND_S, w.log_tail()


def test_a_worker_killed_for_good_has_its_partitions_taken_over_within_the_session_timeout(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    session_s = 10.0
    s = kafka_settings.model_copy(
        update={
            "topic_prefix": kafka_settings.topic_prefix + "kg.",
            "app_id": "fq-kg",
            "topic_partitions": 4,
            "worker_session_timeout_s": session_s,
        }
    )
    create_topics(s)
    env = {"FENGQIAO_WORKER_SESSION_TIMEOUT_S": str(session_s)}
    a, b = _worker(s, tmp_path, 0), _worker(s, tmp_path, 1)
    a.extra_env |= env
    b.extra_env |= env
    a.start()
    b.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (a.stats()["assigned"] and b.stats()["assigned"]):
            time.sleep(0.5)
        time.sleep(3)  # let the group settle: both started, one rebalance each
        before = a.stats()["assigned"]
        assert before > 0 and b.stats()["assigned"] > 0, "both share the partitions"
        killed_at = time.monotonic()
        b.kill()
        while time.monotonic() - killed_at < session_s + 30 and a.stats()["assigned"] <= before:
            time.sleep(0.2)
        took_over = time.monotonic() - killed_at
        print(f"killed for good: partitions taken over after {took_over:.1f} s")
        assert a.stats()["assigned"] > before
        assert took_over < session_s + 15
    finally:
        a.stop()
        b.stop()
