"""Routing on the real broker: intake → worker → cases.routed, and a what-if replay."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from typer.testing import CliRunner

from fengqiao import cli
from fengqiao.settings import Settings
from producers.sample import dispute, petition, wage_arrears
from producers.sdk import Publisher
from schemas.explain import catalogue_names, render_explanation
from schemas.topics import TOPIC_NAMES
from tests.kafkatools import from_start, settings_env
from tests.rulesettools import write_candidate_500k

pytestmark = pytest.mark.kafka


def read_keyed(settings: Settings, topic: str, n: int, timeout_s: float = 60.0) -> list[Any]:
    """(key, value) pairs from a topic until ``n`` arrived."""
    consumer = from_start(settings, topic, consumer_timeout_ms=500)
    out: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            for msg in consumer:
                out.append((msg.key.decode(), json.loads(msg.value)))
        return out
    finally:
        consumer.close()


def test_intake_to_cases_routed_by_the_default_ruleset(kafka_settings: Settings, worker) -> None:
    rng = random.Random(11)
    when = datetime.now(UTC) - timedelta(hours=1)
    sent = {
        "k-unknown": (
            "dispute",
            dispute(rng, "k-unknown", when, street="atlantis", category="contract"),
            "longwan-center",
            "unknown_jurisdiction",
        ),
        "k-petition": (
            "petition",
            petition(rng, "k-petition", when, street="shacheng", petitioner_count=2),
            "shacheng-petition-desk",
            "petition",
        ),
        "k-labor": (
            "wage-arrears",
            wage_arrears(rng, "k-labor", when, street="tianhe", worker_count=6),
            "longwan-labor",
            "labor",
        ),
        "k-family": (
            "dispute",
            dispute(
                rng, "k-family", when, street="haibin", category="family", community="haibin-01",
                amount_yuan="2000",
            ),
            "haibin-01-community",
            "family",
        ),
    }  # fmt: skip
    with Publisher(kafka_settings) as pub:
        for kind, event, _, _ in sent.values():
            pub.publish(kind, event)
    routed = read_keyed(kafka_settings, "cases.routed", len(sent))
    assert len(routed) == len(sent), worker.log_tail()
    got = {env["data"]["case_id"]: (key, env) for key, env in routed}
    assert set(got) == set(sent)
    for case_id, (_kind, event, committee, rule) in sent.items():
        key, env = got[case_id]
        data = env["data"]
        assert env["id"] == f"{case_id}/routed" and env["type"] == "case.routed.v1"
        assert key == committee == data["committee_id"]
        assert data["rule_id"] == rule
        assert data["ruleset_version"] == "longwan-default-2023.1"
        assert data["reasons"][0].startswith(f"Rule {rule}: ")
        kind_days = {"dispute": 30, "petition": 60, "wage-arrears": 15}[_kind]
        assert datetime.fromisoformat(data["deadline"]) == datetime.fromisoformat(
            event["time"]
        ) + timedelta(days=kind_days)
    assert "unknown jurisdiction" in " ".join(got["k-unknown"][1]["data"]["reasons"]).lower()
    # The explanation travels with the decision and renders in either language; what was
    # sent as the street stays on the event (the stored case) but never in the reasons.
    names = catalogue_names()
    for _key, env in got.values():
        data = env["data"]
        reasons_en, rejected_en = render_explanation(data["explanation"], "en", names)
        assert reasons_en == data["reasons"]
        assert rejected_en == [(r["rule_id"], r["reason"]) for r in data["rejected"]]
        reasons_zh, _ = render_explanation(data["explanation"], "zh", names)
        assert reasons_zh[0].startswith(f"规则 {data['rule_id']}：")
    unknown = got["k-unknown"][1]["data"]
    assert unknown["street"] == "atlantis"
    assert "atlantis" not in json.dumps(
        [unknown["reasons"], unknown["rejected"], unknown["explanation"]]
    )
    assert [r["rule_id"] for r in got["k-petition"][1]["data"]["rejected"]] == [
        "unknown_jurisdiction",
        "group",
        "petition_repeat",
    ]


def _replay(settings: Settings, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "fengqiao", "replay", "--json", "--timeout", "60", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_replay_shows_what_a_lower_threshold_would_move(
    kafka_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = write_candidate_500k(tmp_path)

    rng = random.Random(3)
    when = datetime.now(UTC) - timedelta(days=2)

    def d(i: str, street: str, amount: str) -> dict[str, Any]:
        return dispute(rng, i, when, street=street, category="contract", amount_yuan=amount)

    # An event published ten days ago (broker time): only a replay without --since sees it.
    old = KafkaProducer(bootstrap_servers=kafka_settings.resolved_bootstrap().split(","))
    old.send(
        kafka_settings.topic("intake.disputes"),
        value=json.dumps(d("r-old", "puzhou", "800000")).encode(),
        timestamp_ms=int((datetime.now(UTC) - timedelta(days=10)).timestamp() * 1000),
    ).get(timeout=30)
    old.close()
    with Publisher(kafka_settings) as pub:
        for event in [
            d("r-1", "haibin", "600000"),  # medium_amount → large_amount: moves
            d("r-2", "yaoxi", "700000"),  # moves
            d("r-3", "haibin", "2000000"),  # district center either way
            d("r-4", "haibin", "50000"),  # street either way
            d("r-1", "haibin", "600000"),  # a duplicate: counted once
        ]:
            pub.publish("dispute", event)
        pub.publish(
            "consultation",
            {
                "id": "r-consult",
                "source": "hotline/12348",
                "type": "consultation.recorded.v1",
                "time": when.isoformat(),
                "data": {"category": "labor", "channel": "hotline", "summary": "q"},
            },
        )
        pub.send_raw("intake.disputes", b"{not json").get(timeout=30)

    since = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    report = _replay(kafka_settings, "--ruleset", str(candidate), "--since", since)
    assert report["current"]["version"] == "longwan-default-2023.1"
    assert report["candidate"]["version"] == "candidate-500k"
    assert report["read"] == {
        "messages": 7,
        "invalid": 1,
        "duplicates": 1,
        "no_case": 1,
        "topics_missing": [],
    }
    assert (report["cases"], report["moved"]) == (4, 2)
    moves = {(m["from"], m["to"]): m for m in report["moves"]}
    assert set(moves) == {("haibin-street", "longwan-center"), ("yaoxi-street", "longwan-center")}
    assert moves[("haibin-street", "longwan-center")]["examples"] == ["r-1"]
    assert moves[("haibin-street", "longwan-center")]["rules"] == [
        {"from_rule": "medium_amount", "to_rule": "large_amount", "count": 1}
    ]
    assert moves[("yaoxi-street", "longwan-center")]["from_name"] == "瑶溪街道人民调解委员会"

    # The readable report, in process.
    monkeypatch.setattr(cli, "_settings", kafka_settings)
    table = CliRunner().invoke(cli.app, ["replay", "--ruleset", str(candidate), "--since", since])
    assert table.exit_code == 0, table.output
    assert "2 cases would move (50.0 %)" in table.stdout
    assert (
        "瑶溪街道人民调解委员会" in table.stdout and "medium_amount → large_amount" in table.stdout
    )

    before = CliRunner().invoke(
        cli.app, ["replay", "--ruleset", str(candidate), "--until", since, "--json"]
    )
    assert before.exit_code == 0, before.output
    old_only = json.loads(before.stdout.strip().splitlines()[-1])
    assert (old_only["read"]["messages"], old_only["cases"], old_only["moved"]) == (1, 1, 1)
    assert old_only["moves"][0]["examples"] == ["r-old"]

    everything = _replay(kafka_settings, "--ruleset", str(candidate), "--examples", "5")
    assert (everything["cases"], everything["moved"]) == (5, 3)
    assert {(m["from"], m["count"]) for m in everything["moves"]} == {
        ("haibin-street", 1),
        ("yaoxi-street", 1),
        ("puzhou-street", 1),
    }

    # The replay wrote nothing: every topic but the intake ones is still empty.
    consumer = KafkaConsumer(bootstrap_servers=kafka_settings.resolved_bootstrap().split(","))
    try:
        outputs = [
            n for n in TOPIC_NAMES if not n.startswith("intake.") or n.endswith("deadletter")
        ]
        tps = [
            TopicPartition(kafka_settings.topic(n), p)
            for n in outputs
            for p in consumer.partitions_for_topic(kafka_settings.topic(n)) or ()
        ]
        assert tps
        assert sum(consumer.end_offsets(tps).values()) == 0
    finally:
        consumer.close()
