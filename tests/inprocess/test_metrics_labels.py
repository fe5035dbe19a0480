"""Metric labels and the dashboard's keys take only catalogue codes and the contracts' enums.

A street, committee or category sent as an id number, or as a fuzzer's ``0``, ``di`` or ``r``,
is counted under ``unknown``; the value itself never reaches ``/metrics`` or the dashboard.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from consumers.dashboard import create_app
from consumers.metrics.fold import MetricsSink
from consumers.metrics.topics import KNOWN_TOPICS, TOPICS
from consumers.metrics.vocabulary import UNKNOWN, Vocabulary
from producers.sample import dispute
from schemas.reference.catalogue import load_catalogue
from tests.monitoring_events import derived, escalation, incident, lifecycle, risk, routed

NOW = datetime(2023, 3, 1, 2, 0, tzinfo=UTC)
ID_NUMBER = "330303198304131033"  # shaped like a resident id number (GB 11643)
HOSTILE = (ID_NUMBER, "0", "di", "r")


def hostile_events() -> list[tuple[str, dict[str, Any]]]:
    """Every code field the sink reads, filled with a value that is no catalogue code."""
    rng = random.Random(21)
    out: list[tuple[str, dict[str, Any]]] = []
    for i, code in enumerate(HOSTILE):
        when = NOW + timedelta(seconds=i)
        case = f"hostile-case-{i}"
        out += [
            ("intake.disputes", dispute(rng, f"hostile-d{i}", when, street=code)),
            ("risk.levels", risk(code, code, "red", 40.0 + i, when)),
            ("cases.routed", routed(case, when, committee=code, street=code, category=code)),
            (
                "cases.lifecycle",
                lifecycle(
                    "case.transferred.v1",
                    case,
                    when,
                    committee_id=code,
                    to_committee_id=code,
                    reason="jurisdiction",
                ),
            ),
            (
                "incidents",
                incident(f"hostile-inc-{i}", when, 3, [case], rule_id=code, street=code),
            ),
            (
                "escalations",
                escalation(
                    f"hostile-esc-{i}", when, to_committee_id=code, incident_id=f"hostile-inc-{i}"
                ),
            ),
            (
                "intake.deadletter",
                derived(
                    f"deadletter:{code}:0:{i}",
                    "deadletter.v1",
                    when,
                    {
                        "original_b64": "e30=",
                        "source_topic": code,
                        "partition": 0,
                        "offset": i,
                        "reason": "data.street: does not match",
                        "error_class": "payload",
                        "received_at": when.isoformat(),
                    },
                ),
            ),
        ]
    return out


def fed() -> tuple[TestClient, CollectorRegistry]:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, clock=lambda: NOW)
    ts = int(NOW.timestamp() * 1000) + 1500
    for topic, env in hostile_events():
        sink.handle(topic, json.dumps(env, ensure_ascii=False).encode(), ts)
    sink.set_lag("fq", {ID_NUMBER: 4, "intake.disputes": 1})
    return TestClient(create_app(sink, registry)), registry


def allowed_values() -> dict[str, set[str]]:
    vocab = Vocabulary.default()
    catalogue = load_catalogue()
    allowed = {
        "street": set(catalogue.streets),
        "committee": set(catalogue.committees),
        "category": set(vocab.categories),
        "kind": set(vocab.kinds),
        "channel": set(vocab.channels),
        "tier": set(vocab.tiers),
        "rule": set(vocab.rules),
        "topic": set(TOPICS) | set(KNOWN_TOPICS) | {"other"},
    }
    return {label: values | {UNKNOWN} for label, values in allowed.items()}


def test_hostile_codes_never_become_label_values() -> None:
    client, registry = fed()
    text = client.get("/metrics").text
    assert ID_NUMBER not in text
    allowed = allowed_values()
    checked = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert value not in HOSTILE, f"{sample.name}{{{label}={value!r}}}"
                if label in allowed:
                    assert value in allowed[label], f"{sample.name}{{{label}={value!r}}}"
                    checked += 1
    assert checked > 100
    # ... and the events are still counted, under "unknown"
    v = registry.get_sample_value
    assert v("fengqiao_cases_routed_total", {"committee": UNKNOWN, "tier": "street"}) == 4
    assert v("fengqiao_risk_level", {"street": UNKNOWN, "category": UNKNOWN}) == 4
    assert v("fengqiao_incidents_total", {"rule": UNKNOWN}) == 4
    assert v("fengqiao_dead_letters_total", {"topic": UNKNOWN, "reason_class": "payload"}) == 4
    received = sum(
        s.value
        for f in registry.collect()
        if f.name == "fengqiao_cases_received"
        for s in f.samples
        if s.name.endswith("_total") and s.labels["street"] == UNKNOWN
    )
    # the intake contract may refuse an id-number-shaped street outright; the others pass it
    assert received >= 3


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def test_hostile_codes_never_reach_the_dashboard_json() -> None:
    client, _ = fed()
    body = client.get("/api/dashboard")
    assert ID_NUMBER not in body.text
    data = body.json()
    strings = _strings(data)
    strings += [part for key in data["risk"] for part in key.split("/")]
    leaked = sorted({s for s in strings if s in HOSTILE})
    assert not leaked, leaked
    allowed = allowed_values()
    assert {s["code"] for s in data["streets"]} <= allowed["street"]
    assert {c["code"] for c in data["categories"]} <= allowed["category"]
    assert {c["code"] for c in data["committees"]} == {UNKNOWN}
    assert set(data["risk"]) == {f"{UNKNOWN}/{UNKNOWN}"}
    assert set(data["lag"]["topics"]) == {"intake.disputes", "other"}
    incidents = [e for e in data["feed"] if e["type"] == "incident"]
    assert len(incidents) == 4 and all(e["rule"] == UNKNOWN and not e["street"] for e in incidents)
    escalations = [e for e in data["feed"] if e["type"] == "escalation"]
    assert len(escalations) == 4 and all(e["to"] == "未知" for e in escalations)
