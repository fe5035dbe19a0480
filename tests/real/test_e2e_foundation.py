"""The first slice on the real broker: a dispute published with the SDK arrives routed."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaAdminClient

from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings
from producers.sample import dispute
from producers.sdk import Publisher
from schemas.topics import TOPIC_NAMES
from tests.kafkatools import read_topic

pytestmark = pytest.mark.kafka


def test_dispute_published_with_sdk_arrives_routed(kafka_settings: Settings, worker) -> None:
    when = datetime.now(UTC) - timedelta(minutes=1)
    event = dispute(random.Random(1), "e2e-dispute-1", when, street="haibin", category="contract")
    with Publisher(kafka_settings) as pub:
        assert pub.publish("dispute", event) == "e2e-dispute-1"
    routed = read_topic(kafka_settings, "cases.routed", until=lambda ms: len(ms) >= 1)
    assert len(routed) == 1
    env = routed[0]
    assert env["type"] == "case.routed.v1"
    assert env["id"] == "e2e-dispute-1/routed"
    data = env["data"]
    assert data["case_id"] == "e2e-dispute-1"
    assert data["street"] == "haibin"
    assert data["category"] == "contract"
    assert data["committee_id"]
    assert data["reasons"] and all(isinstance(r, str) and r for r in data["reasons"])
    assert datetime.fromisoformat(data["deadline"]) > when


def test_topics_create_is_idempotent(kafka_settings: Settings) -> None:
    created, there = create_topics(kafka_settings)  # the fixture already created them
    assert created == []
    assert sorted(there) == sorted(kafka_settings.topic(n) for n in TOPIC_NAMES)


def _broker_pids(data_dir) -> set[int]:
    """Broker processes of this data dir only: other brokers may run on the machine."""
    out = subprocess.run(["pgrep", "-f", f"kafka.Kafka {data_dir}"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_cli_kafka_start_status_stop(tmp_path, kafka_bootstrap) -> None:
    """`fengqiao kafka start` twice starts one broker; a client lists topics; stop leaves none."""
    port = localkafka.free_port()
    data = tmp_path / "broker"
    cli = [sys.executable, "-m", "fengqiao", "kafka"]
    env_clean = {
        k: v for k, v in __import__("os").environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    first = subprocess.run(
        [*cli, "start", "--port", str(port), "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env_clean,
        timeout=180,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"127.0.0.1:{port}")
    try:
        pid = localkafka.running_pid(data)
        assert pid is not None and _broker_pids(data.resolve()) == {pid}
        second = subprocess.run(
            [*cli, "start", "--port", str(port), "--data-dir", str(data)],
            capture_output=True,
            text=True,
            env=env_clean,
            timeout=60,
        )
        assert second.returncode == 0
        assert "already running" in second.stderr
        assert localkafka.running_pid(data) == pid
        assert _broker_pids(data.resolve()) == {pid}
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        try:
            assert isinstance(admin.list_topics(), list)
        finally:
            admin.close()
        status = subprocess.run(
            [*cli, "status", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            env=env_clean,
            timeout=60,
        )
        assert status.returncode == 0 and "answering" in status.stdout
    finally:
        stop = subprocess.run(
            [*cli, "stop", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            env=env_clean,
            timeout=60,
        )
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert _broker_pids(data.resolve()) == set()
    status = subprocess.run(
        [*cli, "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env_clean,
        timeout=60,
    )
    assert status.returncode == 1


def test_missing_java_gives_one_clear_sentence(monkeypatch) -> None:
    monkeypatch.setattr(localkafka.shutil, "which", lambda name: None)
    with pytest.raises(localkafka.KafkaSetupError) as err:
        localkafka.check_tools(need_maven=True)
    msg = str(err.value)
    assert "java and mvn not found" in msg and "KAFKA_BOOTSTRAP_SERVERS" in msg


def test_settings_honour_standard_bootstrap_variable(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("FENGQIAO_TOPIC_PREFIX", "prov.")
    s = Settings()
    assert s.uses_external_cluster
    assert s.resolved_bootstrap() == "kafka-1:9092,kafka-2:9092"
    assert s.topic("cases.routed") == "prov.cases.routed"


def test_cluster_ids_never_start_with_a_dash() -> None:
    # the storage tool's parser took such an id for an option: 1 broker start in 64 failed
    ids = [localkafka.new_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)


def test_up_shows_the_sink_metrics_url_only_when_the_sink_serves_them() -> None:
    from fengqiao.stack import Feed, services

    def sink_url(s: Settings) -> str | None:
        return next(x.url for x in services(s, Feed()) if x.name == "sink")

    assert sink_url(Settings()) is None
    assert sink_url(Settings(sink_metrics_port=9465)) == "http://127.0.0.1:9465/metrics"
