"""The case-store sink against the real broker: every topic, crashes, and a database outage."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consumers.db import SqlStore
from fengqiao import localkafka
from fengqiao.settings import Settings
from tests.casetools import (
    PARTY_ID,
    PARTY_NAME,
    PARTY_PHONE,
    SinkProcess,
    dispute_report,
    escalation,
    incident,
    lifecycle,
    petition_report,
    publish,
    routed,
    sink_env,
    wage_report,
    wait_until,
)
from tests.conftest_pg import PgServer
from tests.kafkatools import WorkerProcess

pytestmark = pytest.mark.kafka


def _settings(kafka_settings: Settings, url: str) -> Settings:
    return kafka_settings.model_copy(update={"database_url": url})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sink_proc(kafka_settings: Settings, tmp_path: Path) -> Iterator[list[SinkProcess]]:
    """Started sinks, all stopped at the end."""
    procs: list[SinkProcess] = []
    yield procs
    for p in procs:
        p.stop()


def _start(procs: list[SinkProcess], s: Settings, tmp: Path, batch: int = 500) -> SinkProcess:
    p = SinkProcess(s, tmp / f"sink{len(procs)}.log", extra_env=sink_env(batch))
    p.start()
    procs.append(p)
    return p


def test_sink_applies_every_topic_once(
    kafka_settings: Settings, tmp_path: Path, sink_proc: list[SinkProcess]
) -> None:
    s = _settings(kafka_settings, f"sqlite:///{tmp_path / 'cases.db'}")
    publish(s, "cases.routed", [routed("c1", "a"), routed("c2", "a"), routed("c1", "a")])
    publish(s, "cases.routed", [b"\xffnot json", b'{"id": "x"}'])
    publish(s, "incidents", [incident("inc-1", ["c1", "c2", "c3"], 12)])
    publish(s, "escalations", [escalation("esc-1", "inc-1")])
    port = localkafka.free_port()
    p = SinkProcess(
        s,
        tmp_path / "sink.log",
        extra_env=sink_env(500) | {"FENGQIAO_SINK_METRICS_PORT": str(port)},
    )
    p.start()
    sink_proc.append(p)
    store = SqlStore.open(s.effective_database_url())
    try:
        wait_until(lambda: len(store.event_ids()) == 6, 60, "6 events stored")
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz", timeout=5).json() == {"status": "ok"}
        assert "fengqiao_sink_applied_total" in httpx.get(f"{base}/metrics", timeout=5).text
        publish(s, "cases.lifecycle", [lifecycle("c1", "accept", 0, "a")], key="c1")
        publish(s, "incidents", [incident("inc-1", ["c1", "c2", "c3", "c4"], 20)])
        wait_until(lambda: len(store.event_ids()) == 8, 60, "8 events stored")
        assert store.get_case("c1").status == "accepted"  # type: ignore[union-attr]
        assert store.count("cases") == 2
        [inc] = store.incidents()
        assert (inc["people"], len(inc["case_ids"])) == (20, 4)
        dls = store.dead_letters()
        assert sorted(d.error_class for d in dls) == ["decode", "envelope"]
        assert all(d.origin == "sink" and d.source_topic == "cases.routed" for d in dls)
        assert sink_proc[0].alive()
    finally:
        store.close()


def test_sigkill_mid_stream_then_restart_stores_every_case_exactly_once(
    kafka_settings: Settings, tmp_path: Path, db_url: str, sink_proc: list[SinkProcess]
) -> None:
    s = _settings(kafka_settings, db_url)
    n = 2000  # in batches of 20: the kill lands mid-stream even on a fast machine
    ids_in = {f"k{i:05d}/routed" for i in range(n)}
    publish(s, "cases.routed", (routed(f"k{i:05d}", f"c{i % 7}") for i in range(n)))
    store = SqlStore.open(db_url)
    try:
        first = _start(sink_proc, s, tmp_path, batch=20)
        wait_until(lambda: store.count("processed_events") >= 120, 90, "some events stored", 0.02)
        first.stop(signal.SIGKILL)
        stored_at_kill = store.count("processed_events")
        assert stored_at_kill < n, "the sink finished before it was killed: not a mid-stream kill"
        _start(sink_proc, s, tmp_path, batch=20)
        wait_until(lambda: store.count("processed_events") >= n, 120, "all events stored")
        time.sleep(1.0)  # anything extra would show up now
        assert store.event_ids() == ids_in
        assert store.count("cases") == n
        assert store.count("case_history") == n
    finally:
        store.close()


@pytest.mark.postgres
def test_database_down_while_events_flow_loses_nothing(
    kafka_settings: Settings, tmp_path: Path, sink_proc: list[SinkProcess]
) -> None:
    server = PgServer()
    try:
        server.start()
        url = server.create_database("cases")
        s = _settings(kafka_settings, url)
        n = 600
        ids_in = {f"d{i:05d}/routed" for i in range(n)}
        sent = threading.Event()

        def feed() -> None:
            for chunk in range(0, n, 100):
                publish(s, "cases.routed", (routed(f"d{i:05d}") for i in range(chunk, chunk + 100)))
                time.sleep(0.3)
            sent.set()

        sink = _start(sink_proc, s, tmp_path, batch=50)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        store = SqlStore.open(url)
        wait_until(lambda: store.count("processed_events") >= 100, 90, "events flowing")
        store.close()
        server.stop()
        time.sleep(3.0)  # events keep arriving; the sink must retry, not crash or skip
        assert sink.alive(), sink.log_tail()
        server.start()
        feeder.join(timeout=60)
        assert sent.is_set()
        store = SqlStore.open(url)
        try:
            wait_until(lambda: store.count("processed_events") >= n, 120, "all events stored")
            time.sleep(1.0)
            assert store.event_ids() == ids_in
            assert store.count("cases") == n
        finally:
            store.close()
        assert "database unavailable" in sink.log_tail(200_000)
    finally:
        for p in sink_proc:
            p.stop()
        server.destroy()


def test_reports_from_the_intake_topics_are_kept_and_invalid_ones_left_to_the_worker(
    kafka_settings: Settings, worker: WorkerProcess, tmp_path: Path, sink_proc: list[SinkProcess]
) -> None:
    """The real worker routes the reports and dead-letters the invalid one; the real sink keeps
    each valid report's facts once (a resend is a duplicate) and no dead letter of its own."""
    s = _settings(kafka_settings, f"sqlite:///{tmp_path / 'cases.db'}")
    invalid = dispute_report("rep-bad")
    del invalid["data"]["street"]
    publish(s, "intake.disputes", [dispute_report("rep-1"), invalid], key="yongzhong")
    publish(s, "intake.wage-arrears", [wage_report("rep-2")], key="employer")
    publish(s, "intake.petitions", [petition_report("rep-3")], key="puzhou")
    _start(sink_proc, s, tmp_path)
    store = SqlStore.open(s.effective_database_url())
    try:
        wait_until(lambda: store.count("cases") == 3, 90, "3 cases routed")
        wait_until(lambda: store.count("reports") == 3, 60, "3 reports kept")
        wait_until(lambda: len(store.dead_letters()) == 1, 60, "the worker's dead letter")
        [rep] = store.reports_for_case("rep-1")
        assert rep.data["parties"][0]["name"] == PARTY_NAME
        assert (rep.kind, rep.source, rep.channel) == ("dispute", "hotline/12348", "hotline")
        assert store.reports_for_case("rep-2")[0].data["employer"]["name"] == "龙湾建工集团"
        assert store.reports_for_case("rep-3")[0].data["target_agency"] == "区住房和城乡建设局"
        [dl] = store.dead_letters()
        assert (dl.origin, dl.source_topic) == ("intake", "intake.disputes")
        assert store.reports_for_case("rep-bad") == []
        # a resend of a report is a duplicate: nothing changes
        # (rep-4 follows it in the same partition: once rep-4 is kept, the resend was read)
        resend = dispute_report("rep-1", summary="resent")
        publish(s, "intake.disputes", [resend, dispute_report("rep-4")], key="yongzhong")
        wait_until(lambda: store.reports_for_case("rep-4") != [], 60, "the report after it")
        assert store.count("reports") == 4
        assert store.reports_for_case("rep-1")[0].data["summary"] == "楼上漏水，多次协商未果"
        log = sink_proc[0].log_tail(200_000)
        assert PARTY_NAME not in log and PARTY_PHONE not in log and PARTY_ID not in log
    finally:
        store.close()
