"""Group incidents, stability risk and SLA clocks on the real broker, with a real worker."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from fengqiao.settings import Settings
from producers.sample import credit_code, dispute, petition, wage_arrears
from producers.sdk import Publisher
from streams.sla import NEXT_TIER
from tests.kafkatools import WorkerProcess, drain_topic, read_topic, settings_env

pytestmark = pytest.mark.kafka
RNG = random.Random(5)
EMPLOYER_A = credit_code(RNG)
EMPLOYER_B = credit_code(RNG)


def page(s: Settings, path: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{s.worker_web_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.loads(resp.read()))


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def claim(eid: str, when: datetime, code: str | None, **kw: Any) -> dict[str, Any]:
    employer = {"name": f"Employer {code or eid}", **({"credit_code": code} if code else {})}
    return wage_arrears(
        RNG,
        eid,
        when,
        street="haibin",
        employer=employer,
        worker_count=2,
        amount_yuan="20000",
        **kw,
    )


def publish_all(s: Settings, kind: str, events: list[dict[str, Any]]) -> None:
    with Publisher(s) as pub:
        for ev in events:
            pub.publish(kind, ev)


def incident_ids(msgs: list[dict[str, Any]]) -> set[str]:
    return {m["data"]["incident_id"] for m in msgs}


def test_group_incidents_raise_once(kafka_settings: Settings, worker: WorkerProcess) -> None:
    s = kafka_settings
    now = datetime.now(UTC)
    ours = [claim(f"wa-{i}", now - timedelta(hours=3 - i), EMPLOYER_A) for i in range(3)]
    far = [claim(f"far-{i}", now - timedelta(days=20 - 10 * i), EMPLOYER_B) for i in range(3)]
    others = [claim(f"oth-{i}", now - timedelta(hours=1), credit_code(RNG)) for i in range(3)]
    publish_all(s, "wage-arrears", ours + far + others)
    group = petition(RNG, "pet-5", now - timedelta(minutes=5), petitioner_count=5, street="yaoxi")
    publish_all(s, "petition", [group])

    incidents = read_topic(s, "incidents", until=lambda ms: len(incident_ids(ms)) >= 2)
    assert len(incidents) == 2, incidents
    by_rule = {m["data"]["rule_id"]: m["data"] for m in incidents}
    assert set(by_rule) == {"wage_employer", "petition_collective"}
    assert by_rule["wage_employer"]["case_ids"] == ["wa-0", "wa-1", "wa-2"]
    assert by_rule["wage_employer"]["key"] == f"uscc:{EMPLOYER_A}"
    assert by_rule["wage_employer"]["people"] == 6
    assert by_rule["petition_collective"]["case_ids"] == ["pet-5"]
    assert by_rule["petition_collective"]["people"] == 5

    # The same claims again: once under the same ids (intake drops them), once re-sent under
    # new event ids for the same cases (the incident table recognises the case ids).
    publish_all(s, "wage-arrears", ours)
    resent = [dict(ev, id=f"{ev['id']}-resent", subject=ev["id"]) for ev in ours]
    publish_all(s, "wage-arrears", resent)
    wait_for("the re-sent claims", lambda: page(s, "/incidents")["stats"]["duplicates"] >= 3)
    assert worker.stats()["duplicates"] >= 3

    incidents = drain_topic(s, "incidents")
    # the claims 10 and 20 days old are past their SLA: those escalations name a case instead
    escalations = [e for e in drain_topic(s, "escalations") if "incident_id" in e["data"]]
    assert len(incidents) == 2, incidents
    assert len(escalations) == 2, escalations
    assert {e["data"]["incident_id"] for e in escalations} == incident_ids(incidents)
    assert {e["data"]["level"] for e in escalations} == {"district"}
    assert {e["data"]["to_committee_id"] for e in escalations} == {"longwan-center"}
    assert {e["id"] for e in escalations} == {f"{i}/district" for i in incident_ids(incidents)}


def send_lifecycle(s: Settings, events: list[tuple[str, str, datetime]]) -> None:
    producer = KafkaProducer(bootstrap_servers=s.resolved_bootstrap().split(","), acks="all")
    try:
        for type_, case_id, when in events:
            env = {
                "id": f"{case_id}/{type_}",
                "source": "test/inbox",
                "type": type_,
                "time": when.isoformat(),
                "subject": case_id,
                "data": {"case_id": case_id, "committee_id": "yongzhong-street"}
                | ({"outcome": "agreement"} if type_ == "case.concluded.v1" else {}),
            }
            producer.send(
                s.topic("cases.lifecycle"), key=case_id.encode(), value=json.dumps(env).encode()
            )
        producer.flush()
    finally:
        producer.close()


def level_changes(s: Settings, key: str, n: int) -> list[tuple[str | None, str]]:
    msgs = read_topic(
        s,
        "risk.levels",
        until=lambda ms: (
            sum(f"{m['data']['street']}/{m['data']['category']}" == key for m in ms) >= n
        ),
    )
    return [
        (m["data"]["previous_level"], m["data"]["level"])
        for m in msgs
        if f"{m['data']['street']}/{m['data']['category']}" == key
    ]


def test_risk_burst_and_sla_on_stream_time(kafka_settings: Settings, tmp_path: Path) -> None:
    s = kafka_settings.model_copy(update={"clock": "stream"})
    proc = WorkerProcess(s, tmp_path / "worker.log", {"FENGQIAO_WATCH_TICK_SECONDS": "0.5"})
    proc.start()
    try:
        t0 = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
        # SLA: two disputes; one is accepted, the other is not.
        publish_all(
            s,
            "dispute",
            [dispute(RNG, f"sla-{x}", t0, street="yongzhong", category="family") for x in "ab"],
        )
        wait_for("both clocks", lambda: {"sla-a", "sla-b"} <= set(page(s, "/sla")["cases"]))
        send_lifecycle(s, [("case.accepted.v1", "sla-b", t0 + timedelta(hours=2))])

        def accepted() -> bool:
            return page(s, "/sla")["cases"]["sla-b"]["clocks"]["accept"]["state"] == "stopped"

        wait_for("sla-b accepted", accepted)

        # Risk: a burst of 21 large disputes (weight 2 each) on one street and category,
        # concluded at once so their own deadlines add no risk later.
        burst = [
            dispute(RNG, f"burst-{i}", t0, street="haibin", category="land", amount_yuan="100000")
            for i in range(21)
        ]
        for ev in burst:
            ev["data"]["parties"] = [{"role": "applicant", "kind": "person"}]
            ev["data"]["party_count"] = 1
        publish_all(s, "dispute", burst)
        assert level_changes(s, "haibin/land", 4) == [
            ("green", "blue"),
            ("blue", "yellow"),
            ("yellow", "orange"),
            ("orange", "red"),
        ]

        def haibin_land() -> dict[str, Any]:
            rows = {f"{r['street']}/{r['category']}": r for r in page(s, "/risk")["rows"]}
            return dict(rows["haibin/land"])

        # red comes at 40, with the 20th dispute: the 21st may be in the worker's next batch
        wait_for("the 21st dispute in the score", lambda: haibin_land()["score"] >= 42.0)
        row = haibin_land()
        assert row["level"] == "red"
        assert row["score"] == pytest.approx(42.0)
        cli = [sys.executable, "-m", "fengqiao", "risk"]
        env = settings_env(s)
        shown = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "haibin" in shown.stdout and "42.0 red" in shown.stdout
        from_kafka = subprocess.run(
            [*cli, "--kafka", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert from_kafka.returncode == 0, from_kafka.stderr
        assert {"street": "haibin", "category": "land", "level": "red"}.items() <= next(
            r for r in json.loads(from_kafka.stdout) if r["street"] == "haibin"
        ).items()
        send_lifecycle(s, [("case.concluded.v1", f"burst-{i}", t0) for i in range(21)])
        wait_for(
            "burst concluded",
            lambda: all(page(s, "/sla")["cases"][f"burst-{i}"]["done"] for i in range(21)),
        )

        # Event time moves on by a week: the burst halves to orange, sla-a breaches.
        tick = dispute(RNG, "later-1", t0 + timedelta(days=7), street="xinghai", category="other")
        publish_all(s, "dispute", [tick])
        assert level_changes(s, "haibin/land", 5)[-1] == ("red", "orange")
        alerts = read_topic(
            s,
            "sla.alerts",
            until=lambda ms: any(m["type"] == "sla.breached.v1" for m in ms),
        )
        time.sleep(2)  # a few more ticks: nothing else may breach for sla-b
        alerts = drain_topic(s, "sla.alerts", quiet_s=1.5)
        breaches = [m["data"] for m in alerts if m["type"] == "sla.breached.v1"]
        assert [(b["case_id"], b["clock"]) for b in breaches] == [("sla-a", "accept")]
        assert not [m for m in alerts if m["data"]["case_id"] == "sla-b"]
        escalations = drain_topic(s, "escalations", quiet_s=1.0)
        routed_a = next(
            m["data"]
            for m in drain_topic(s, "cases.routed", quiet_s=1.0)
            if m["data"]["case_id"] == "sla-a"
        )
        assert [(e["data"]["case_id"], e["data"]["level"]) for e in escalations] == [
            ("sla-a", NEXT_TIER[routed_a["tier"]])
        ]
        assert page(s, "/sla")["cases"]["sla-a"]["clocks"]["accept"]["state"] == "breached"
        rows = {f"{r['street']}/{r['category']}": r for r in page(s, "/risk")["rows"]}
        assert rows["yongzhong/family"]["score"] > 3.0 * 0.5  # the breach added risk

        # Two months on it is green again.
        publish_all(
            s,
            "dispute",
            [dispute(RNG, "later-2", t0 + timedelta(days=60), street="xinghai", category="other")],
        )
        assert level_changes(s, "haibin/land", 6)[-1] == ("orange", "green")
    finally:
        proc.stop()


def test_restart_recovers_tables(kafka_settings: Settings, tmp_path: Path) -> None:
    s = kafka_settings
    now = datetime.now(UTC) - timedelta(hours=1)
    a = [claim(f"ra-{i}", now + timedelta(minutes=i), EMPLOYER_A) for i in range(4)]
    b = [claim(f"rb-{i}", now + timedelta(minutes=i), EMPLOYER_B) for i in range(3)]
    filler = [
        dispute(RNG, f"fill-{i}", now, street="puzhou", category="neighbourhood", amount_yuan="0")
        for i in range(60)
    ]
    proc = WorkerProcess(s, tmp_path / "worker.log")
    proc.start()
    try:
        publish_all(s, "wage-arrears", a[:3] + b[:2])
        first = read_topic(s, "incidents", until=lambda ms: len(ms) >= 1)
        wait_for(
            "b pending",
            lambda: any(
                i.get("pending") == ["rb-0", "rb-1"] for i in page(s, "/incidents")["incidents"]
            ),
        )
        before = wait_for(
            "five claims and one incident in the risk table",
            lambda: {
                f"{r['street']}/{r['category']}": r
                for r in page(s, "/risk")["rows"]
                if r["street"] == "haibin" and r["events"] == 6
            },
        )

        # Stop the worker while a stream of disputes is still arriving.
        def feed() -> None:
            with Publisher(s) as pub:
                for ev in filler:
                    pub.publish("dispute", ev)
                    time.sleep(0.05)

        feeder = threading.Thread(target=feed)
        feeder.start()
        wait_for("the stream under way", lambda: proc.stats()["routed"] >= 5 + 10)
        proc.stop()
        feeder.join()
    finally:
        proc.stop()
    proc = WorkerProcess(s, tmp_path / "worker2.log")
    proc.start()
    try:
        # One more claim against each employer: a's incident grows, b's (two claims held in
        # the recovered table) is raised. (Sent after the restart: see the report on messages
        # published while no worker runs.)
        publish_all(s, "wage-arrears", [a[3], b[2]])
        incidents = read_topic(s, "incidents", until=lambda ms: len(ms) >= 3)
        assert first[0] in incidents
        latest = {m["data"]["incident_id"]: m["data"] for m in incidents}
        assert len(latest) == 2  # a's incident updated, b's raised: not a second one for a
        by_key = {d["key"]: d for d in latest.values()}
        assert by_key[f"uscc:{EMPLOYER_A}"]["case_ids"] == ["ra-0", "ra-1", "ra-2", "ra-3"]
        assert by_key[f"uscc:{EMPLOYER_B}"]["case_ids"] == ["rb-0", "rb-1", "rb-2"]

        def rows() -> dict[str, Any]:
            return {f"{r['street']}/{r['category']}": r for r in page(s, "/risk")["rows"]}

        wait_for("risk rows", lambda: rows().get("haibin/labor", {}).get("events", 0) >= 9)
        after = rows()
        assert after["haibin/labor"]["events"] == 9  # six before, two claims and an incident
        assert after["haibin/labor"]["score"] > before["haibin/labor"]["score"]

        # Every dispute sent across the stop is routed and in the risk table exactly once.
        routed = {
            m["data"]["case_id"]
            for m in read_topic(
                s,
                "cases.routed",
                until=lambda ms: sum(m["data"]["case_id"].startswith("fill-") for m in ms) >= 60,
            )
            if m["data"]["case_id"].startswith("fill-")
        }
        assert len(routed) == len(filler)
        wait_for(
            "filler in the risk table",
            lambda: rows()["puzhou/neighbourhood"]["events"] >= len(routed),
        )
        time.sleep(1.0)
        fill = rows()["puzhou/neighbourhood"]
        assert fill["events"] == len(routed)
        age_days = (datetime.now(UTC) - now).total_seconds() / 86400
        assert fill["score"] == pytest.approx(len(routed) * 0.5 ** (age_days / 7), rel=1e-3)

        publish_all(s, "wage-arrears", a + b)  # the whole history again
        wait_for("replayed", lambda: proc.stats()["duplicates"] >= 7)
        incidents = drain_topic(s, "incidents")
        escalations = [e for e in drain_topic(s, "escalations") if "incident_id" in e["data"]]
        assert len(incidents) == 3 and len(incident_ids(incidents)) == 2
        assert len(escalations) == 2
    finally:
        proc.stop()


def test_risk_from_an_empty_changelog_returns_without_waiting(kafka_settings: Settings) -> None:
    """``fengqiao risk --kafka`` before any risk was recorded: the changelog exists and is
    empty. The read used to wait for records past the end until its 10 s timeout."""
    from kafka import KafkaConsumer
    from kafka.admin import NewTopic

    from fengqiao.admin import admin_client
    from fengqiao.cli.risk_cmd import rows_from_changelog

    s = kafka_settings
    topic = f"{s.app_id}-risk-changelog"
    admin = admin_client(s)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    seen = KafkaConsumer(bootstrap_servers=s.resolved_bootstrap().split(","))
    try:  # the function must find the topic, or it returns [] without reading anything
        deadline = time.monotonic() + 30
        while not seen.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert seen.partitions_for_topic(topic) == {0, 1}
    finally:
        seen.close()
    began = time.monotonic()
    assert rows_from_changelog(s, timeout_s=60.0) == []
    # at the end it began with on every partition: no wait for the timeout (60 s)
    assert time.monotonic() - began < 30.0
