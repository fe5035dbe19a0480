"""The monitoring sink counts reports that joined an open case, by kind and channel, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from consumers.metrics.fold import MetricsSink
from schemas.parse import parse_event
from streams.cases import case_from_event
from streams.intake import linked_out
from streams.linking import Linked
from tests.linktools import dispute, mobile

NOW = datetime(2023, 3, 1, 2, 0, tzinfo=UTC)


def linked_event(report_id: str, channel: str) -> dict:
    report = case_from_event(parse_event(dispute(report_id, NOW, phone=mobile(1), channel=channel)))
    assert report is not None
    return linked_out(report, Linked("hl-1", ("applicant_phone",))).value


def test_linked_reports_are_counted_by_kind_and_channel_once() -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, clock=lambda: NOW)
    name = "fengqiao_reports_linked_total"
    assert registry.get_sample_value(name, {"kind": "dispute", "channel": "walkin"}) == 0
    walkin = linked_event("wk-1", "walkin")
    for env in (walkin, walkin, linked_event("mp-1", "miniapp")):  # one delivered twice
        sink.handle("cases.lifecycle", json.dumps(env, ensure_ascii=False).encode())
    assert registry.get_sample_value(name, {"kind": "dispute", "channel": "walkin"}) == 1
    assert registry.get_sample_value(name, {"kind": "dispute", "channel": "miniapp"}) == 1
    unreadable = registry.get_sample_value(
        "fengqiao_sink_unreadable_total", {"topic": "cases.lifecycle"}
    )
    assert unreadable == 0
    exposition = generate_latest(registry).decode()
    assert "hl-1" not in exposition and "wk-1" not in exposition
