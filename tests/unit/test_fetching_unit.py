"""The kafka-python readers (the sink, the metrics feed, the report, its intake counts and
``fengqiao risk --kafka``) ask for fuller fetches and shorter holds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import kafka
import pytest
from prometheus_client import CollectorRegistry

from consumers.fetching import FULLER_FETCHES
from consumers.metrics import feed
from consumers.metrics.config import FeedConfig, KafkaAccess
from consumers.metrics.fold import MetricsSink
from consumers.metrics.health import ConsumerHealth
from consumers.sink import SINK_TOPICS, Sink
from consumers.store import MemoryStore
from fengqiao.cli.report_cmd import Readback
from fengqiao.cli.risk_cmd import rows_from_changelog
from fengqiao.intake_counts import count_intake
from fengqiao.settings import Settings
from fengqiao.wiring import sink_config
from producers.groundtruth import Observed

START = datetime(2022, 1, 1, tzinfo=UTC)


class Recorder:
    """Stands in for kafka.KafkaConsumer: keeps what it was built with."""

    made: list[dict[str, Any]] = []
    calls: list[tuple[str, Any]] = []
    stop: threading.Event | None = None

    def __init__(self, *topics: str, **config: Any) -> None:
        Recorder.made.append(config)

    def poll(self, **_: Any) -> dict[Any, Any]:
        if Recorder.stop is not None:
            Recorder.stop.set()
        return {}

    def assignment(self) -> set[Any]:
        return set()

    def partitions_for_topic(self, topic: str) -> set[int]:
        Recorder.calls.append(("metadata", topic))
        return set()

    def subscribe(self, topics: list[str]) -> None:
        Recorder.calls.append(("subscribe", tuple(topics)))

    def assign(self, parts: list[Any]) -> None:
        pass

    def seek_to_beginning(self, *parts: Any) -> None:
        pass

    def end_offsets(self, parts: list[Any]) -> dict[Any, int]:
        return {}

    def close(self, **_: Any) -> None:
        pass


class NoLag:
    def __init__(self, *args: Any) -> None:
        pass

    def measure(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    Recorder.made = []
    monkeypatch.setattr(kafka, "KafkaConsumer", Recorder)
    monkeypatch.setattr(feed, "LagProbe", NoLag)
    return Recorder.made


def test_the_values_hold_a_fetch_briefly_and_ask_for_a_quarter_mebibyte() -> None:
    # kafka-python's own are 500 ms and 1 byte
    assert FULLER_FETCHES == {"fetch_max_wait_ms": 100, "fetch_min_bytes": 262_144}


def test_the_metrics_feed_reads_with_fuller_fetches(recorded: list[dict[str, Any]]) -> None:
    stop = threading.Event()
    Recorder.stop = stop
    try:
        config = FeedConfig(kafka=KafkaAccess(("127.0.0.1:1",)), worker_group="fengqiao")
        feed.run_consumer(config, MetricsSink(CollectorRegistry()), stop, ConsumerHealth())
    finally:
        Recorder.stop = None
    [made] = recorded
    assert made["fetch_max_wait_ms"] == 100 and made["fetch_min_bytes"] == 262_144


def test_the_report_reads_back_with_fuller_fetches(recorded: list[dict[str, Any]]) -> None:
    Readback(Settings(), Observed("lw22-s1"))
    [made] = recorded
    assert made["fetch_max_wait_ms"] == 100 and made["fetch_min_bytes"] == 262_144


def test_the_reports_intake_count_reads_with_fuller_fetches(
    recorded: list[dict[str, Any]],
) -> None:
    count_intake(["127.0.0.1:1"], {"dispute": "intake.disputes"}, START, START, {})
    [made] = recorded
    assert made["fetch_max_wait_ms"] == 100 and made["fetch_min_bytes"] == 262_144


def test_the_risk_tables_changelog_is_read_with_fuller_fetches(
    recorded: list[dict[str, Any]],
) -> None:
    rows_from_changelog(Settings())
    [made] = recorded
    assert made["fetch_max_wait_ms"] == 100 and made["fetch_min_bytes"] == 262_144


def test_the_sinks_fetch_settings_reach_its_kafka_consumer(recorded: list[dict[str, Any]]) -> None:
    s = Settings(sink_fetch_min_bytes=1234, sink_fetch_max_wait_ms=77)
    Sink(sink_config(s), MemoryStore()).consumer()
    Sink(sink_config(Settings()), MemoryStore()).consumer()
    assert (recorded[0]["fetch_min_bytes"], recorded[0]["fetch_max_wait_ms"]) == (1234, 77)
    # by default the broker gathers a live rate's messages for up to 100 ms (not 1 byte)
    assert (recorded[1]["fetch_min_bytes"], recorded[1]["fetch_max_wait_ms"]) == (262_144, 100)


def test_the_sink_has_each_topics_metadata_before_it_subscribes(
    recorded: list[dict[str, Any]],
) -> None:
    Recorder.calls.clear()
    Sink(sink_config(Settings(topic_prefix="p.")), MemoryStore()).consumer()
    topics = tuple(f"p.{name}" for name in SINK_TOPICS)
    assert Recorder.calls == [*(("metadata", t) for t in topics), ("subscribe", topics)]
