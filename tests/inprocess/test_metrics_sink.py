"""The monitoring sink as plain code: a fresh registry per test, events in, numbers out."""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from consumers import labels
from consumers.dashboard import create_app
from consumers.metrics.fold import MetricsSink
from consumers.metrics.lag import lag_by_topic
from producers.sample import dispute
from tests.monitoring_events import (
    escalation,
    every_kind,
    incident,
    lifecycle,
    risk,
    routed,
    sla,
)

NOW = datetime(2023, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Longwan


def make(clock=None) -> tuple[MetricsSink, CollectorRegistry]:
    registry = CollectorRegistry()
    return MetricsSink(registry, clock=clock or (lambda: NOW)), registry


def feed(sink: MetricsSink, events, written: datetime | None = None) -> None:
    ts = int((written or NOW).timestamp() * 1000) + 1500
    for topic, env in events:
        sink.handle(topic, json.dumps(env, ensure_ascii=False).encode(), ts)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    v = registry.get_sample_value(name, labels)
    assert v is not None, f"no sample {name}{labels}"
    return v


def test_every_kind_of_event_is_counted_once() -> None:
    sink, reg = make()
    feed(sink, every_kind(NOW))
    sink.refresh()
    received = {"kind": "dispute", "category": "contract", "street": "haibin"}
    channel = every_kind(NOW)[0][1]["data"]["channel"]
    assert value(reg, "fengqiao_cases_received_total", **received, channel=channel) == 1
    assert value(reg, "fengqiao_intake_duplicates_total", topic="intake.disputes") == 1
    assert value(reg, "fengqiao_consultations_total", category="legal_aid", channel="hotline") == 1
    assert (
        value(reg, "fengqiao_dead_letters_total", topic="intake.disputes", reason_class="payload")
        == 1
    )
    assert value(reg, "fengqiao_cases_routed_total", committee="haibin-street", tier="street") == 1
    assert value(reg, "fengqiao_cases_accepted_total") == 1
    assert value(reg, "fengqiao_cases_transferred_total") == 1
    assert value(reg, "fengqiao_cases_concluded_total", outcome="agreement") == 1
    assert value(reg, "fengqiao_agreed_amount_yuan_total") == 800
    assert value(reg, "fengqiao_incidents_total", rule="wage_employer") == 1
    assert value(reg, "fengqiao_incident_people_total", rule="wage_employer") == 12
    assert value(reg, "fengqiao_escalations_total", level="district") == 1
    assert value(reg, "fengqiao_risk_level", street="haibin", category="labor") == 3
    assert value(reg, "fengqiao_risk_score", street="haibin", category="labor") == 25.0
    assert value(reg, "fengqiao_risk_cells", level="orange") == 1
    assert value(reg, "fengqiao_sla_warnings_total", clock="accept") == 1
    assert value(reg, "fengqiao_sla_breaches_total", clock="accept") == 1
    # case 1 concluded; case 2 transferred to yaoxi, past its deadline and breached
    assert value(reg, "fengqiao_cases_open", committee="haibin-street") == 0
    assert value(reg, "fengqiao_cases_open", committee="yaoxi-street") == 1
    assert value(reg, "fengqiao_cases_overdue", committee="yaoxi-street") == 1
    assert value(reg, "fengqiao_cases_overdue", committee="puzhou-street") == 0


def test_replayed_events_change_nothing() -> None:
    """At-least-once delivery: the same events again leave every business metric as it was."""
    sink, reg = make()
    feed(sink, every_kind(NOW))
    sink.refresh()

    def business(text: bytes) -> list[str]:
        return sorted(
            line
            for line in text.decode().splitlines()
            if line.startswith("fengqiao_")
            and not line.startswith(("fengqiao_sink_events", "fengqiao_intake_duplicates"))
            and "_created" not in line
        )

    once = business(generate_latest(reg))
    feed(sink, every_kind(NOW))
    sink.refresh()
    assert business(generate_latest(reg)) == once


def test_routing_latency_is_record_time_minus_event_time() -> None:
    sink, reg = make()
    when = NOW - timedelta(seconds=3)
    written_ms = int(NOW.timestamp()) * 1000
    sink.handle("cases.routed", json.dumps(routed("lat-1", when)).encode(), written_ms)
    assert value(reg, "fengqiao_routing_latency_seconds_count", kind="dispute") == 1
    assert value(reg, "fengqiao_routing_latency_seconds_sum", kind="dispute") == pytest.approx(3)
    assert value(reg, "fengqiao_routing_latency_seconds_bucket", kind="dispute", le="2.0") == 0
    assert value(reg, "fengqiao_routing_latency_seconds_bucket", kind="dispute", le="5.0") == 1


def test_incident_updates_add_only_the_new_people() -> None:
    sink, reg = make()
    first = incident("inc-1", NOW, 10, ["a", "b"], street="yaoxi", category="labor")
    later = incident("inc-1", NOW + timedelta(hours=1), 14, ["a", "b", "c"])
    feed(sink, [("incidents", first), ("incidents", later)])
    assert sink.snapshot()["feed"][0]["street"] == "瑶溪"  # kept when an update lacks it
    feed(sink, [("incidents", first)])
    assert value(reg, "fengqiao_incidents_total", rule="wage_employer") == 1
    assert value(reg, "fengqiao_incident_people_total", rule="wage_employer") == 14
    feed_entries = sink.snapshot()["feed"]
    assert len(feed_entries) == 1 and feed_entries[0]["people"] == 14
    assert feed_entries[0]["street"] == "瑶溪"  # the extra field incidents carry


def test_risk_level_changes_move_cells_between_levels() -> None:
    sink, reg = make()
    feed(
        sink,
        [
            ("risk.levels", risk("yaoxi", "land", "yellow", 12.0, NOW, "blue")),
            ("risk.levels", risk("yaoxi", "land", "red", 41.0, NOW + timedelta(hours=1), "yellow")),
            ("risk.levels", risk("tianhe", "land", "blue", 6.0, NOW, "green")),
        ],
    )
    assert value(reg, "fengqiao_risk_level", street="yaoxi", category="land") == 4
    assert value(reg, "fengqiao_risk_cells", level="red") == 1
    assert value(reg, "fengqiao_risk_cells", level="yellow") == 0
    assert value(reg, "fengqiao_sink_unreadable_total", topic="risk.levels") == 0
    assert value(reg, "fengqiao_risk_cells", level="blue") == 1
    snap = sink.snapshot()
    assert snap["risk"]["yaoxi/land"] == {"level": "red", "score": 41.0}
    assert [s["name"] for s in snap["streets"]][:3] == ["永中", "蒲州", "海滨"]
    # a cell's first change has no previous level, and dump() leaves the None out
    feed(sink, [("risk.levels", risk("xinghai", "environment", "red", 50.0, NOW))])
    assert value(reg, "fengqiao_risk_level", street="xinghai", category="environment") == 4
    sink.handle("risk.levels", None, None)  # a compaction tombstone is not an error
    assert value(reg, "fengqiao_sink_unreadable_total", topic="risk.levels") == 0


def test_overdue_follows_the_injected_clock() -> None:
    now = [NOW]
    sink, reg = make(clock=lambda: now[0])
    due = (NOW + timedelta(days=1)).isoformat()
    feed(sink, [("cases.routed", routed("od-1", NOW, deadline=due))])
    sink.refresh()
    assert value(reg, "fengqiao_cases_overdue", committee="haibin-street") == 0
    now[0] = NOW + timedelta(days=2)
    sink.refresh()
    assert value(reg, "fengqiao_cases_overdue", committee="haibin-street") == 1
    feed(sink, [("cases.lifecycle", lifecycle("case.closed.v1", "od-1", now[0]))])
    sink.refresh()
    assert value(reg, "fengqiao_cases_overdue", committee="haibin-street") == 0
    assert value(reg, "fengqiao_cases_open", committee="haibin-street") == 0


def test_a_breach_makes_a_case_overdue_before_its_deadline() -> None:
    sink, reg = make()
    breach = sla("sla.breached.v1", "br-1", NOW)
    feed(sink, [("cases.routed", routed("br-1", NOW)), ("sla.alerts", breach)])
    sink.refresh()
    assert value(reg, "fengqiao_cases_overdue", committee="haibin-street") == 1


def test_conclusion_read_before_routing_does_not_reopen_the_case() -> None:
    """Topics are read interleaved; a case concluded before its routing is seen stays closed."""
    sink, reg = make()
    feed(
        sink,
        [
            ("cases.lifecycle", lifecycle("case.concluded.v1", "early-1", NOW, outcome="referred")),
            ("cases.routed", routed("early-1", NOW - timedelta(days=1))),
        ],
    )
    sink.refresh()
    assert value(reg, "fengqiao_cases_open", committee="haibin-street") == 0


def test_stream_clock_counts_the_simulated_day() -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, clock=None)  # "now" = newest event time
    rng = random.Random(3)
    day1 = datetime(2022, 1, 10, 3, 0, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    feed(
        sink,
        [
            ("intake.disputes", dispute(rng, "d-1", day1)),
            ("intake.disputes", dispute(rng, "d-2", day2)),
            ("intake.disputes", dispute(rng, "d-3", day2)),
        ],
    )
    snap = sink.snapshot()
    assert snap["today"] == "2022-01-11"
    assert snap["today_counts"]["dispute"] == 2


def test_today_is_the_district_local_day() -> None:
    # 2023-03-01 17:00 UTC is already 2 March in Longwan (UTC+8)
    late = datetime(2023, 3, 1, 17, 0, tzinfo=UTC)
    sink, _ = make(clock=lambda: late)
    feed(sink, [("intake.disputes", dispute(random.Random(1), "tz-1", late))])
    snap = sink.snapshot()
    assert snap["today"] == "2023-03-02" and snap["today_counts"]["dispute"] == 1


def test_labels_stay_bounded() -> None:
    sink, reg = make()
    rng = random.Random(5)
    events = [
        ("intake.disputes", dispute(rng, f"flood-{i}", NOW, street=f"nowhere{i}"))
        for i in range(200)
    ]
    feed(sink, events)
    streets = {
        s.labels["street"]
        for metric in reg.collect()
        if metric.name == "fengqiao_cases_received"
        for s in metric.samples
    }
    # Codes outside the catalogue are folded into one value: "unknown" (it was "other" once the
    # first 40 were let through, which let any code sent become a label).
    assert len(streets) <= 41 and "unknown" in streets


def test_no_personal_data_in_metrics_or_dashboard() -> None:
    sink, reg = make()
    rng = random.Random(9)
    ev = dispute(rng, "pii-1", NOW, street="haibin", category="family")
    ev["data"]["parties"] = [
        {"role": "applicant", "kind": "person", "name": "王小明", "phone": "13812345678"},
        {"role": "respondent", "kind": "organisation", "name": "温州某某建设有限公司"},
    ]
    feed(sink, [("intake.disputes", ev), *every_kind(NOW)])
    sink.refresh()
    text = generate_latest(reg).decode() + json.dumps(sink.snapshot(), ensure_ascii=False)
    for secret in ("王小明", "13812345678", "某某建设", "张三", "pii-1", "k-case-1", "inc-k"):
        assert secret not in text


def test_unreadable_derived_message_is_counted_not_fatal() -> None:
    sink, reg = make()
    sink.handle("incidents", b"{not json", None)
    sink.handle("escalations", json.dumps({"id": "x", "source": "a", "type": "t"}).encode(), None)
    assert value(reg, "fengqiao_sink_unreadable_total", topic="incidents") == 1
    assert value(reg, "fengqiao_sink_unreadable_total", topic="escalations") == 1


def test_lag_is_end_minus_committed_per_topic() -> None:
    d, p = "p.intake.disputes", "p.intake.petitions"
    committed = {(d, 0): 5, (d, 1): 9, (p, 0): 3}
    ends = {(d, 0): 8, (d, 1): 9, (p, 0): 2}
    assert lag_by_topic(committed, ends, "p.") == {"intake.disputes": 3, "intake.petitions": 0}
    sink, reg = make()
    sink.set_lag("fq", {"intake.disputes": 3})
    assert value(reg, "fengqiao_consumer_lag_messages", group="fq", topic="intake.disputes") == 3
    sink.set_lag("fq", {})
    assert value(reg, "fengqiao_consumer_lag_messages", group="fq", topic="intake.disputes") == 0


def test_http_app_serves_metrics_dashboard_and_json_with_local_assets_only() -> None:
    sink, reg = make()
    feed(sink, every_kind(NOW))
    client = TestClient(create_app(sink, reg))
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "fengqiao_cases_routed_total" in metrics.text
    page = client.get("/dashboard")
    assert page.status_code == 200 and "稳定风险热力表" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        body = client.get(asset)
        assert body.status_code == 200
        if asset.startswith("/static/vendor/"):
            # A vendored library holds URLs in its licence header and XML namespaces; it must
            # be the upstream file unchanged (its sha256 is recorded beside it). The browser
            # tests check that the page requests nothing from another origin.
            digest = hashlib.sha256(body.content).hexdigest()
            version = client.get(asset.rsplit("/", 1)[0] + "/VERSION.txt").text
            assert digest in version, asset
            continue
        assert not re.search(r"https?://", body.text), asset  # no CDN, no remote fonts
    data = client.get("/api/dashboard").json()
    assert data["risk"]["haibin/labor"]["level"] == "orange"
    assert data["feed"][0]["type"] == "escalation" and data["feed"][0]["cause"]
    assert {c["code"] for c in data["committees"]} >= {"yaoxi-street"}


def test_display_names_come_from_the_district_catalogue() -> None:
    from consumers.dashboard import build
    from fengqiao.metrics_wiring import dashboard_config
    from fengqiao.settings import Settings

    sink, reg = build(dashboard_config(Settings(clock="stream")))
    feed(
        sink,
        [
            ("cases.routed", routed("cat-1", NOW, committee="longwan-center", tier="district")),
            ("escalations", escalation("esc-cat", NOW, to_committee_id="longwan-center")),
        ],
    )
    snap = sink.snapshot()
    assert [s["name"] for s in snap["streets"]][:10] == list(labels.STREETS.values())
    assert snap["committees"][0]["name"] == "龙湾区矛盾纠纷调处化解中心"
    assert snap["feed"][0]["to"] == "龙湾区矛盾纠纷调处化解中心"
    assert value(reg, "fengqiao_cases_routed_total", committee="longwan-center", tier="district")


def test_the_workers_own_risk_level_changes_are_read() -> None:
    """The level changes the worker's risk table writes, not hand-made ones: every one of
    them was unreadable to the fold (an id with "+00:00"), so the command center showed no
    risk from a real pipeline."""
    from streams.risk import RiskConfig, RiskTable, contribution

    table = RiskTable({}, RiskConfig())
    changed = table.add(contribution("c1", "haibin", "labor", 30.0, NOW, "test").value)
    sink, reg = make()
    feed(sink, [(out.topic, out.value) for out in changed])
    assert value(reg, "fengqiao_sink_unreadable_total", topic="risk.levels") == 0
    assert value(reg, "fengqiao_risk_level", street="haibin", category="labor") == 3


def test_a_level_change_written_before_the_id_fix_is_read() -> None:
    """``risk.levels`` keeps only each cell's last change: one written with the old id (its
    time with "+00:00") is read, or the cell stays off the command center until it changes."""
    from streams.risk import RiskConfig, RiskTable, contribution

    table = RiskTable({}, RiskConfig())
    out = table.add(contribution("c1", "haibin", "labor", 30.0, NOW, "test").value)[0]
    old = {**out.value, "id": f"risk:haibin/labor:{NOW.isoformat()}:orange"}
    assert "+00:00" in old["id"]
    bad = {**out.value, "id": "risk:haibin/labor:2023 03 01:orange"}
    sink, reg = make()
    feed(sink, [("risk.levels", old), ("risk.levels", bad)])
    assert value(reg, "fengqiao_risk_level", street="haibin", category="labor") == 3
    # an id broken another way is still refused, counted and logged
    assert value(reg, "fengqiao_sink_unreadable_total", topic="risk.levels") == 1
