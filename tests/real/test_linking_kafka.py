"""One dispute, one case on the real broker: reports of an open case re-sent through other
channels under new ids join it (``case.linked.v1``) and count nowhere again; another
applicant's report is only "possibly related"; an unlinked report is routed as a case of its
own; and a worker replaying the whole history from scratch raises nothing new."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from fengqiao import localkafka
from fengqiao.settings import Settings
from producers.sdk import Publisher
from tests.kafkatools import WorkerProcess, drain_topic, read_topic
from tests.linktools import credit_code, dispute, fullwidth, mobile, spaced, wage_claim

pytestmark = pytest.mark.kafka

EMPLOYER_A, EMPLOYER_B, EMPLOYER_C = credit_code(101), credit_code(102), credit_code(103)


def publish_all(s: Settings, events: list[dict[str, Any]]) -> None:
    with Publisher(s) as pub:
        for ev in events:
            pub.publish(ev)


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def unlink(s: Settings, case_id: str, report_id: str, when: datetime) -> None:
    """What the inbox API sends when a mediator says "not the same matter"."""
    env = {
        "id": f"{report_id}/unlinked",
        "source": "test/inbox",
        "type": "case.unlinked.v1",
        "time": when.isoformat(),
        "subject": case_id,
        "data": {"case_id": case_id, "report_id": report_id, "actor": "acct-17"},
    }
    producer = KafkaProducer(bootstrap_servers=s.resolved_bootstrap().split(","), acks="all")
    try:
        producer.send(
            s.topic("cases.lifecycle"), key=case_id.encode(), value=json.dumps(env).encode()
        )
        producer.flush()
    finally:
        producer.close()


def risk_events(s: Settings, street: str, category: str) -> int:
    """How many contributions the worker's risk row for (street, category) has counted."""
    url = f"http://127.0.0.1:{s.worker_web_port}/risk"
    with urllib.request.urlopen(url, timeout=5) as resp:
        rows = json.loads(resp.read())["rows"]
    return sum(r["events"] for r in rows if (r["street"], r["category"]) == (street, category))


def ids(msgs: list[dict[str, Any]]) -> set[str]:
    return {m["id"] for m in msgs}


def test_reports_of_one_matter_make_one_case(
    kafka_settings: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    s = kafka_settings
    now = datetime.now(UTC)
    t = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    # three claims against A (6 workers): an incident; two against B: none
    a = [
        wage_claim(
            f"a-{i}",
            t(10 - i),
            employer="甲建设公司",
            employer_code=EMPLOYER_A,
            contact_phone=mobile(200 + i),
        )
        for i in range(3)
    ]
    b = [
        wage_claim(
            f"b-{i}",
            t(10 - i),
            employer="乙劳务公司",
            employer_code=EMPLOYER_B,
            contact_phone=mobile(300 + i),
        )
        for i in range(2)
    ]
    c = [
        wage_claim(
            "c-0", t(9), employer="丙装修公司", employer_code=EMPLOYER_C, contact_phone=mobile(400)
        )
    ]
    first_dispute = dispute("d-0", t(8), phone=mobile(500), respondent="龙湾某某物业有限公司")
    publish_all(s, [*a, *b, *c, first_dispute])
    incidents = read_topic(s, "incidents", until=lambda ms: len(ms) >= 1)
    [incident] = {m["data"]["incident_id"]: m["data"] for m in incidents}.values()
    assert incident["case_ids"] == ["a-0", "a-1", "a-2"] and incident["people"] == 6

    # every claim again from the walk-in desk, under new ids, the phone written otherwise,
    # the employer by name only for one of them; and another applicant against the same
    # property company on the same street
    resent = [
        wage_claim(
            f"wk-{e['id']}",
            t(5),
            employer=e["data"]["employer"]["name"],
            employer_code=None if e["id"] == "a-1" else e["data"]["employer"]["credit_code"],
            contact_phone=(spaced if i % 2 else fullwidth)(e["data"]["contact"]["phone"]),
            channel="walkin",
        )
        for i, e in enumerate([*a, *b, *c])
    ]
    other = dispute(
        "d-1", t(4), phone=mobile(501), respondent="龙湾某某物业（有限）公司", channel="miniapp"
    )
    publish_all(s, [*resent, other])

    def linked_now() -> list[dict[str, Any]]:
        return [
            m
            for m in drain_topic(s, "cases.lifecycle", quiet_s=1.0)
            if m["type"] == "case.linked.v1"
        ]

    linked = wait_for("six linked reports", lambda: (ms := linked_now()) and len(ms) >= 6 and ms)
    joined = {m["data"]["report_id"]: m["data"]["case_id"] for m in linked}
    assert joined == {f"wk-{e['id']}": e["id"] for e in [*a, *b, *c]}
    assert {m["data"]["channel"] for m in linked} == {"walkin"}
    assert all(
        m["data"]["matched"] and all("phone" in n for n in m["data"]["matched"]) for m in linked
    )
    wire = json.dumps(linked, ensure_ascii=False)
    assert mobile(200) not in wire and "甲建设公司" not in wire  # names of keys, never values

    routed = {m["data"]["case_id"]: m["data"] for m in drain_topic(s, "cases.routed")}
    assert not any(cid.startswith("wk-") for cid in routed)  # not routed again
    assert "related" not in routed["d-0"] and routed["d-1"]["related"] == ["d-0"]

    # no second incident, A's people unchanged, nothing for B
    incidents = drain_topic(s, "incidents")
    assert {m["data"]["incident_id"] for m in incidents} == {incident["incident_id"]}
    assert {m["data"]["people"] for m in incidents} == {6}
    assert all(EMPLOYER_B not in m["data"]["key"] for m in incidents)
    assert worker.stats()["linked"] == 6

    # a mediator: C's walk-in report is not the same matter → a case of its own
    unlink(s, "c-0", "wk-c-0", t(1))
    wait_for(
        "the unlinked report routed",
        lambda: any(
            m["data"]["case_id"] == "wk-c-0" for m in drain_topic(s, "cases.routed", quiet_s=0.5)
        ),
    )
    routed = {m["data"]["case_id"]: m["data"] for m in drain_topic(s, "cases.routed")}
    assert routed["wk-c-0"]["related"] == ["c-0"]

    # risk counted each case once (A's three, B's two, C's and the report unlinked from it)
    # and A's incident once
    wait_for("risk of the unlinked case", lambda: risk_events(s, "haibin", "labor") == 7 + 1)

    # a restarted worker recovers its link table from the changelog: one more report of a-0,
    # from the mini-program, still joins it
    worker.stop()
    worker.start()
    publish_all(
        s,
        [
            wage_claim(
                "mp-a-0",
                t(0.5),
                employer="甲建设公司",
                employer_code=EMPLOYER_A,
                contact_phone=f"+86 {mobile(200)}",
                channel="miniapp",
            )
        ],
    )
    wait_for(
        "the report after the restart linked",
        lambda: any(
            m["data"]["report_id"] == "mp-a-0" and m["data"]["case_id"] == "a-0"
            for m in linked_now()
        ),
    )
    assert not any(
        m["data"]["case_id"] == "mp-a-0" for m in drain_topic(s, "cases.routed", quiet_s=1.0)
    )
    assert risk_events(s, "haibin", "labor") == 7 + 1

    before = {
        topic: ids(drain_topic(s, topic))
        for topic in ("cases.routed", "cases.lifecycle", "incidents", "escalations")
    }
    worker.stop()

    # a worker that never saw any of it (new group, empty tables) replays the whole history
    fresh = s.model_copy(
        update={"app_id": f"{s.app_id}-replay", "worker_web_port": localkafka.free_port()}
    )
    replay = WorkerProcess(fresh, tmp_path / "replay.log")
    replay.start()
    try:
        wait_for("the replay", lambda: replay.stats()["received"] >= len(a + b + c) * 2 + 3)
        time.sleep(3.0)  # let its last outputs reach the topics
        after = {topic: ids(drain_topic(s, topic)) for topic in before}
    finally:
        replay.stop()
    assert after == before, {t: after[t] - before[t] for t in before}
