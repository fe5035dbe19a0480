"""The sink's loop without a broker: decode, write, then commit; retry while the DB is down."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from consumers.sink import Sink, decode
from consumers.store import ApplyResult, Incoming, MemoryStore
from fengqiao.settings import Settings
from fengqiao.wiring import sink_config
from tests.casetools import routed


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class Msg:
    partition: int
    offset: int
    value: bytes


class FakeConsumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.commits: list[dict[Any, Any]] = []
        self._paused: set[Any] = set()

    def commit(self, offsets: dict[Any, Any]) -> None:
        self.log.append("commit")
        self.commits.append(offsets)

    def assignment(self) -> set[Any]:
        return {TP("cases.routed", 0)}

    def pause(self, *tps: Any) -> None:
        self._paused |= set(tps)

    def paused(self) -> set[Any]:
        return set(self._paused)

    def resume(self, *tps: Any) -> None:
        self._paused -= set(tps)

    def poll(self, timeout_ms: int = 0) -> dict[Any, Any]:
        return {}


class FlakyStore(MemoryStore):
    """Unavailable for the first ``outages`` writes."""

    def __init__(self, log: list[str], outages: int) -> None:
        super().__init__()
        self.log, self.outages = log, outages

    def apply(self, batch: Sequence[Incoming]) -> ApplyResult:
        if self.outages > 0:
            self.outages -= 1
            self.log.append("db down")
            raise OperationalError("INSERT", {}, ConnectionError("connection refused"))
        self.log.append(f"write {len(batch)}")
        return super().apply(batch)


def _records() -> dict[Any, list[Msg]]:
    tp = TP("cases.routed", 0)
    return {tp: [Msg(0, i, json.dumps(routed(f"c{i}")).encode()) for i in range(3)]}


def test_offsets_are_committed_after_the_write_and_past_the_batch() -> None:
    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=0)
    Sink(sink_config(Settings()), store).handle(consumer, _records())
    assert log == ["write 3", "commit"]
    [offsets] = consumer.commits
    assert offsets[TP("cases.routed", 0)].offset == 3
    assert store.event_ids() == {"c0/routed", "c1/routed", "c2/routed"}


def test_database_outage_is_retried_and_nothing_is_committed_meanwhile() -> None:
    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=3)
    s = Settings(sink_retry_initial_s=0.01, sink_retry_max_s=0.02)
    sink = Sink(sink_config(s), store)
    sink.handle(consumer, _records())
    assert log == ["db down", "db down", "db down", "write 3", "commit"]
    assert sink.stats.db_retries == 3
    assert consumer.paused() == set()  # resumed after the outage


def test_stop_during_an_outage_commits_nothing() -> None:
    from consumers.sink import Stopping

    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=10**6)
    stop = threading.Event()
    sink = Sink(
        sink_config(Settings(sink_retry_initial_s=0.01, sink_retry_max_s=0.01)), store, stop=stop
    )
    threading.Timer(0.2, stop.set).start()
    try:
        sink.handle(consumer, _records())
        raise AssertionError("handle returned although the database never came back")
    except Stopping:
        pass
    assert "commit" not in log and store.event_ids() == set()


def test_an_event_the_store_cannot_apply_becomes_a_dead_letter() -> None:
    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=0)
    bad = routed("c9")
    del bad["data"]["deadline"]
    records = _records()
    tp = TP("cases.routed", 0)
    # valid JSON and envelope, but it cannot be applied: skip validation to reach the store
    sink = Sink(sink_config(Settings()), store)
    batch = [decode("cases.routed", 0, m.offset, m.value) for m in records[tp]]
    broken = Incoming(
        event_id="c9/routed",
        topic="cases.routed",
        offset=3,
        type="case.routed.v1",
        time=batch[0].time,
        data=bad["data"],
        raw=b"{}",
    )
    sink.write(consumer, [*batch, broken])
    assert store.event_ids() == {"c0/routed", "c1/routed", "c2/routed", "c9/routed"}
    [dl] = store.dead_letters()
    assert dl.event_id == "c9/routed" and "KeyError" in dl.reason


def test_decode_never_raises() -> None:
    """Whatever bytes arrive, the sink gets an item (a dead letter at worst)."""
    for raw in [None, b"", b"  ", b"[]", b"\x00\xff", b'{"id":"a"}', json.dumps({"x": 1}).encode()]:
        got = decode("cases.lifecycle", 0, 5, raw)
        assert got.reason and got.event_id == "sink-deadletter:cases.lifecycle:0:5"


def test_the_sink_serves_its_counters_for_prometheus() -> None:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from consumers.sink import serve_metrics
    from fengqiao.localkafka import free_port

    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=2)
    sink = Sink(sink_config(Settings(sink_retry_initial_s=0.01, sink_retry_max_s=0.02)), store)
    port = free_port()
    serve_metrics(sink.stats, "127.0.0.1", port)
    sink.handle(consumer, _records())
    sink.handle(consumer, _records())  # the same three events again: duplicates

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("fengqiao_sink_")
    }
    assert values == {
        "fengqiao_sink_batches_total": 2.0,
        "fengqiao_sink_applied_total": 3.0,
        "fengqiao_sink_duplicates_total": 3.0,
        "fengqiao_sink_dead_letters_total": 0.0,
        "fengqiao_sink_db_retries_total": 2.0,
        "fengqiao_sink_commit_failures_total": 0.0,
    }
    assert "# HELP fengqiao_sink_db_retries_total Retries of a batch" in text


def test_a_transfer_to_a_committee_outside_the_catalogue_is_kept_but_not_applied() -> None:
    from tests.casetools import lifecycle

    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=0)
    sink = Sink(sink_config(Settings()), store)  # the packaged catalogue
    assert sink.config.committees is not None and "yongzhong-street" in sink.config.committees
    sink.handle(consumer, _records())  # c0..c2, routed to yongzhong-street
    lc = TP("cases.lifecycle", 0)
    moves = [
        lifecycle("c0", "transfer", 0, "yongzhong-street", to_committee_id="no-such", reason="r"),
        lifecycle("c1", "transfer", 0, "yongzhong-street", to_committee_id="x", reason="r"),
    ]
    moves[1]["data"]["to_committee_id"] = sorted(sink.config.committees - {"yongzhong-street"})[0]
    sink.handle(consumer, {lc: [Msg(0, i, json.dumps(m).encode()) for i, m in enumerate(moves)]})
    c0, c1 = store.get_case("c0"), store.get_case("c1")
    assert c0 is not None and c1 is not None
    assert (c0.committee_id, c0.state.version) == ("yongzhong-street", 0)
    assert c1.committee_id == moves[1]["data"]["to_committee_id"]
    refused = store.history("c0")[-1]
    assert (refused.applied, refused.note) == (
        False,
        "the committee the case was transferred to is not in the catalogue",
    )
    assert store.dead_letters() == []


def test_the_sinks_health_and_readiness_endpoints() -> None:
    import urllib.error
    import urllib.request

    from consumers.sink import serve_metrics
    from fengqiao.localkafka import free_port

    sink = Sink(sink_config(Settings()), MemoryStore())
    port = free_port()
    server = serve_metrics(sink.stats, "127.0.0.1", port, sink.ready)
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        assert err.value.code == 503
        assert json.loads(err.value.read())["reason"] == "the sink has not polled Kafka yet"
        sink._last_poll = time.monotonic()  # what the poll loop records
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()


def test_intake_reports_are_kept_and_invalid_ones_skipped_without_a_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.casetools import PARTY_NAME, dispute_report

    log: list[str] = []
    consumer, store = FakeConsumer(log), FlakyStore(log, outages=0)
    sink = Sink(sink_config(Settings()), store)
    bad = dispute_report("rep-bad")
    bad["data"]["parties"][0]["phone"] = "12"  # the worker dead-letters it
    tp = TP("intake.disputes", 1)
    values = [dispute_report("rep-1"), bad, dispute_report("rep-1")]  # and a redelivery
    raws = [json.dumps(v).encode() for v in values] + [b"\xff not json"]
    with caplog.at_level("DEBUG", logger="fengqiao"):
        sink.handle(consumer, {tp: [Msg(1, i, raw) for i, raw in enumerate(raws)]})
    assert log == ["write 2", "commit"]
    assert consumer.commits[0][tp].offset == 4  # past the skipped ones too
    assert (sink.stats.applied, sink.stats.duplicates, sink.stats.reports_skipped) == (1, 1, 2)
    assert store.dead_letters() == []
    assert [r.report_id for r in store.reports_for_case("rep-1")] == ["rep-1"]
    assert PARTY_NAME not in caplog.text and "rep-bad" not in caplog.text
    only_bad = {tp: [Msg(1, 9, raws[1])]}
    sink.handle(consumer, only_bad)
    assert log[-1] == "commit" and log.count("write 2") == 1  # nothing to write, still moves on
    assert consumer.commits[-1][tp].offset == 10
