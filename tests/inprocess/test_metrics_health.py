"""The command center's health endpoints: ``/healthz`` says the process is alive, ``/readyz``
says whether it is consuming from Kafka, and when not, why (503 with a reason)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from consumers.dashboard import create_app
from consumers.metrics.fold import MetricsSink
from consumers.metrics.health import ConsumerHealth


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def app(health: ConsumerHealth) -> TestClient:
    registry = CollectorRegistry()
    return TestClient(create_app(MetricsSink(registry), registry, health))


def ready(client: TestClient) -> tuple[int, str]:
    r = client.get("/readyz")
    body = r.json()
    assert body["ready"] is (r.status_code == 200)
    return r.status_code, body["reason"]


def test_readyz_follows_the_consumer_and_the_broker() -> None:
    clock = Clock()
    health = ConsumerHealth(stale_after_s=30, clock=clock)
    client = app(health)
    assert client.get("/healthz").status_code == 200

    assert ready(client) == (503, "the consumer has not polled Kafka yet")
    health.polled(assigned=False)
    assert ready(client) == (503, "the consumer has no topic partitions assigned yet")
    health.polled(assigned=True)
    assert ready(client) == (200, "consuming")
    assert client.get("/healthz").json() == {"ok": True, "consuming": True}

    clock.t += 5
    health.broker_failed(TimeoutError("no answer"))
    clock.t += 7
    health.polled(assigned=True)  # poll returns empty while the broker is away
    assert ready(client) == (503, "Kafka has not answered for 7 s (TimeoutError)")
    assert client.get("/healthz").status_code == 200  # alive all the same
    health.broker_answered()
    assert ready(client) == (200, "consuming")

    clock.t += 31  # the loop is stuck: no poll returned since
    assert ready(client) == (503, "no poll of Kafka returned for 31 s")
    health.polled(assigned=True)
    assert ready(client)[0] == 200

    health.stopped(RuntimeError("boom"))
    assert ready(client) == (503, "the consumer failed (RuntimeError)")
    assert client.get("/healthz").json() == {"ok": True, "consuming": False}


def test_a_sink_fed_in_process_is_always_ready() -> None:
    registry = CollectorRegistry()
    client = TestClient(create_app(MetricsSink(registry), registry))
    assert client.get("/readyz").status_code == 200
