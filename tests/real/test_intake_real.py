"""Intake on the real broker: every invalid event becomes a readable dead letter; duplicates
are counted and routed once; nothing personal reaches reasons or logs."""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from fengqiao.settings import Settings
from producers.sample import dispute, petition, wage_arrears
from producers.sdk import Publisher
from tests.kafkatools import WorkerProcess, drain_topic, read_topic

pytestmark = pytest.mark.kafka

WHEN = datetime.now(UTC) - timedelta(minutes=10)
NAME, PHONE, ID_NUMBER, EMPLOYER = "司马相如", "13712345678", "11010519491231002X", "黄某某"
STREET_ID = "330303198304131033"  # an id number typed into the street column


def _bad_events() -> list[tuple[str, bytes, set[str]]]:
    """(intake topic, raw bytes, field paths the reason must name) for every kind and failure."""
    rng = random.Random(11)
    bad_dispute = dispute(
        rng,
        "dl-d",
        WHEN,
        street="Yong Zhong",
        category="gossip",
        parties=[
            {
                "role": "applicant",
                "kind": "person",
                "name": NAME,
                "phone": PHONE + "0",
                "id_number": ID_NUMBER[:-1] + "3",
            }
        ],
    )
    bad_petition = petition(rng, "dl-p", WHEN, petitioner_count=0, target_agency="")
    bad_wage = wage_arrears(
        rng,
        "dl-w",
        WHEN,
        amount_yuan="-100",
        employer={"name": EMPLOYER, "credit_code": ID_NUMBER},
        contact={"name": NAME, "phone": PHONE[:-2]},
    )
    bad_consultation = {
        "id": "dl-c",
        "source": "hotline/12348",
        "type": "consultation.recorded.v1",
        "time": "2023-03-01T09:00:00",
        "subject": None,
        "data": {"category": "labor", "channel": "fax", "summary": NAME},
    }
    id_as_street = dispute(rng, "dl-s", WHEN, street=STREET_ID, community=PHONE)
    wrong_topic = dispute(rng, "dl-x", WHEN)
    return [
        (
            "intake.disputes",
            json.dumps(bad_dispute, ensure_ascii=False).encode(),
            {"data.street", "data.category", "data.parties[0].phone", "data.parties[0].id_number"},
        ),
        (
            "intake.petitions",
            json.dumps(bad_petition).encode(),
            {"data.petitioner_count", "data.target_agency"},
        ),
        (
            "intake.wage-arrears",
            json.dumps(bad_wage, ensure_ascii=False).encode(),
            {"data.amount_yuan", "data.employer.credit_code", "data.contact.phone"},
        ),
        (
            "intake.consultations",
            json.dumps(bad_consultation, ensure_ascii=False).encode(),
            {"time", "data.channel"},
        ),
        ("intake.disputes", json.dumps(id_as_street).encode(), {"data.street", "data.community"}),
        ("intake.petitions", json.dumps(wrong_topic).encode(), {"type"}),
        ("intake.disputes", f'{{"id": "dl-j", "data": "{NAME}'.encode(), set()),
    ]


def _wait_stats(worker: WorkerProcess, key: str, value: int, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = worker.stats()
        if stats.get(key, 0) >= value:
            return stats
        time.sleep(0.3)
    raise AssertionError(f"worker /stats never reached {key}={value}: {stats}")


def test_invalid_events_dead_letter_and_duplicates_route_once(
    kafka_settings: Settings, worker: WorkerProcess
) -> None:
    bad = _bad_events()
    good = dispute(random.Random(2), "dup-1", WHEN, street="haibin")
    placed: dict[tuple[str, int, int], tuple[bytes, set[str]]] = {}
    with Publisher(kafka_settings) as pub:
        for topic, raw, fields in bad:
            meta = pub.send_raw(topic, raw, key=b"k").get(timeout=30)
            placed[(topic, meta.partition, meta.offset)] = (raw, fields)
        assert pub.publish("dispute", good) == "dup-1"
        assert pub.publish("dispute", good) == "dup-1"  # a retry by the producer

    letters = read_topic(kafka_settings, "intake.deadletter", until=lambda ms: len(ms) >= len(bad))
    assert len(letters) == len(bad)
    for env in letters:
        assert env["type"] == "deadletter.v1"
        d = env["data"]
        key = (d["source_topic"], d["partition"], d["offset"])
        assert key in placed, key
        raw, fields = placed.pop(key)
        assert base64.b64decode(d["original_b64"]) == raw  # replayable as it came
        for f in fields:
            assert f"{f}:" in d["reason"], (f, d["reason"])
        if not fields:
            assert d["error_class"] == "decode" and "not valid JSON" in d["reason"]
        for value in (NAME, PHONE, PHONE[:-2], ID_NUMBER[:-1], EMPLOYER, STREET_ID):
            assert value not in json.dumps(env, ensure_ascii=False).replace(d["original_b64"], "")
    assert placed == {}

    stats = _wait_stats(worker, "duplicates", 1)
    assert stats["dead_letters"] == len(bad)
    routed = drain_topic(kafka_settings, "cases.routed", quiet_s=3.0)
    assert [m["id"] for m in routed] == ["dup-1/routed"]
    stats = worker.stats()
    assert stats["duplicates"] == 1 and stats["routed"] == 1

    log = worker.log_tail(200_000)
    assert "dead letter" in log
    for value in (NAME, PHONE, PHONE[:-2], ID_NUMBER[:-1], EMPLOYER, STREET_ID):
        assert value not in log
