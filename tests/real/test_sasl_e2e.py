"""SCRAM-SHA-512 over TLS against a real broker: an event goes in through the HTTP gateway,
the worker routes it, the sink stores it in PostgreSQL, the metrics exporter counts it, the
inbox API shows it and publishes the mediator's action, every hop on SASL_SSL with a client
certificate. A wrong password ends
each component with one sentence, at once, instead of a retry storm."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.api import create_app as create_inbox
from consumers.db import SqlStore
from consumers.lifecycle import KafkaLifecyclePublisher
from consumers.tokens import hash_token, new_token
from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.cli.gateway_cmd import gateway_config
from fengqiao.settings import Settings
from fengqiao.wiring import api_config, publisher_config
from producers.gateway import create_app as create_gateway
from producers.keystore import KeyStore
from producers.sample import dispute
from tests.casetools import SinkProcess, sink_env, wait_until
from tests.conftest_cluster import SecureBroker
from tests.httptools import serve
from tests.kafkatools import WorkerProcess, from_start, settings_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _read(s: Settings, topic: str, want: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    consumer = from_start(s, topic, **s.kafka_client_config())
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < want and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=500).values():
                out.extend(json.loads(m.value) for m in msgs)
    finally:
        consumer.close()
    return out


def _routed_count(url: str) -> float:
    """fengqiao_cases_routed_total summed over its labels (0 before the exporter answers)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("fengqiao_cases_routed_total")
    )


def test_gateway_worker_sink_metrics_inbox_over_scram_and_tls(
    secure_broker: SecureBroker, pg_url: str, tmp_path: Path
) -> None:
    s = secure_broker.settings(tmp_path, database_url=pg_url)
    env = secure_broker.security.client_env()
    assert create_topics(s)[0]  # the admin client over SASL_SSL
    worker = WorkerProcess(s, tmp_path / "worker.log", extra_env=env)
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=env | sink_env(batch=50))
    metrics_port = localkafka.free_port()
    metrics_log = (tmp_path / "metrics.log").open("ab")
    metrics = subprocess.Popen(
        [sys.executable, "-m", "fengqiao", "metrics", "--port", str(metrics_port)],
        env=settings_env(s) | env,
        stdout=metrics_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    store = SqlStore.open(pg_url)
    publisher = KafkaLifecyclePublisher(publisher_config(s))
    try:
        worker.start()
        sink.start()
        when = datetime.now(UTC) - timedelta(minutes=1)
        event = dispute(random.Random(19), "sasl-e2e-1", when, street="haibin", category="contract")
        _, key = KeyStore(s.effective_gateway_db_url()).create(event["source"])
        gateway = create_gateway(gateway_config(s))
        with serve(gateway) as gw, httpx.Client(base_url=gw, timeout=30) as http:
            r = http.post("/v1/events/dispute", json=event, headers={"X-API-Key": key})
            assert r.status_code == 202, r.text  # 202 only once the broker acknowledged

        (routed,) = _read(s, "cases.routed", 1)
        assert routed["data"]["case_id"] == "sasl-e2e-1"
        committee = routed["data"]["committee_id"]
        wait_until(lambda: store.get_case("sasl-e2e-1") is not None, 60, "case stored")
        url = f"http://127.0.0.1:{metrics_port}"
        wait_until(lambda: _routed_count(url) == 1, 60, "the exporter counted the case")

        token = new_token()
        store.add_token(committee, hash_token(token), None)
        with (
            serve(create_inbox(api_config(s), store, publisher)) as api,
            httpx.Client(
                base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as http,
        ):
            inbox = http.get("/cases").json()
            assert [c["case_id"] for c in inbox["items"]] == ["sasl-e2e-1"]
            r = http.post("/cases/sasl-e2e-1/accept")
            assert r.status_code == 202, r.text
        (accepted,) = _read(s, "cases.lifecycle", 1)
        assert accepted["subject"] == "sasl-e2e-1" and accepted["type"] == "case.accepted.v1"
        assert worker.proc is not None and worker.proc.poll() is None
        assert sink.alive()
    finally:
        metrics.terminate()
        metrics.wait(timeout=30)
        publisher.close()
        store.close()
        sink.stop()
        worker.stop()
    # the password is a secret: no log of any component contains it
    for log in (tmp_path / "worker.log", tmp_path / "sink.log", tmp_path / "metrics.log"):
        assert secure_broker.security.password not in log.read_text(errors="replace")


@pytest.mark.parametrize("command", ["worker", "sink", "api", "gateway", "metrics"])
def test_a_wrong_password_ends_the_component_with_one_sentence(
    secure_broker: SecureBroker, tmp_path: Path, command: str
) -> None:
    s = secure_broker.settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'c.db'}")
    env = settings_env(s) | secure_broker.security.client_env()
    env["FENGQIAO_KAFKA_SASL_PASSWORD"] = "not-the-password-0123"
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "fengqiao", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    text = " ".join((out.stdout + out.stderr).split())  # rich wraps long lines
    assert out.returncode == 1, text
    assert text.count("error:") == 1 and "Traceback" not in text
    assert "Kafka refused the SCRAM-SHA-512 login" in text
    assert "FENGQIAO_KAFKA_SASL_PASSWORD" in text and "not-the-password-0123" not in text
    assert took < 20, f"{command} took {took:.1f}s to give up"
