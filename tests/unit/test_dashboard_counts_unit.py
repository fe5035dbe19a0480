"""The live page's counts say cases and reports apart: a report linked to an open case is a
report of the day, not a new case."""

from __future__ import annotations

import json
from datetime import datetime

from prometheus_client import CollectorRegistry

from consumers.metrics.fold import MetricsSink
from schemas.parse import parse_event
from streams.cases import case_from_event
from streams.intake import linked_out
from streams.linking import Linked
from tests.casetools import routed
from tests.linktools import dispute, mobile
from tests.unit.test_metrics_linked_unit import NOW


def linked_event(report_id: str, channel: str, when: datetime = NOW, case_id: str = "hl-1") -> dict:
    """``case.linked.v1`` of a dispute report that joined the open case ``case_id``."""
    report = case_from_event(
        parse_event(dispute(report_id, when, phone=mobile(1), channel=channel))
    )
    assert report is not None
    return linked_out(report, Linked(case_id, ("applicant_phone",))).value


def feed(sink: MetricsSink, topic: str, env: dict) -> None:
    sink.handle(topic, json.dumps(env, ensure_ascii=False).encode())


def test_today_counts_cases_and_reports_apart() -> None:
    sink = MetricsSink(CollectorRegistry(), clock=lambda: NOW)
    snap = sink.snapshot()
    assert (snap["today_cases"], snap["today_reports"]) == (0, 0)
    for cid in ("c-1", "c-2"):
        feed(sink, "cases.routed", routed(cid, time=NOW))
    walkin = linked_event("wk-1", "walkin")
    for env in (walkin, walkin, linked_event("mp-1", "miniapp")):  # one delivered twice
        feed(sink, "cases.lifecycle", env)
    snap = sink.snapshot()
    assert snap["today_cases"] == 2  # two cases opened
    assert snap["today_reports"] == 4  # and two more reports joined open cases
    assert snap["today_counts"]["linked"] == 2
