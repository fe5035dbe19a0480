"""A mediator's "not the same matter" on the real stack: a repeat report the worker linked to
an open case is split off through the inbox API (real broker, real worker, real sink into
SQLite), and the worker routes it as a case of its own; and two cases linked by hand take a
later report of either as one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.api import create_app
from consumers.db import SqlStore
from consumers.lifecycle import KafkaLifecyclePublisher
from consumers.tokens import hash_token, new_token
from fengqiao.settings import Settings
from fengqiao.wiring import api_config, publisher_config
from tests.casetools import SinkProcess, sink_env
from tests.httptools import serve
from tests.kafkatools import WorkerProcess, drain_topic
from tests.linktools import dispute, mobile, spaced
from tests.real.test_linking_kafka import publish_all, wait_for

pytestmark = pytest.mark.kafka


@dataclass
class Stack:
    settings: Settings
    store: SqlStore
    api_url: str


@pytest.fixture
def stack(kafka_settings: Settings, worker: WorkerProcess, tmp_path: Path) -> Iterator[Stack]:
    s = kafka_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}"})
    store = SqlStore.open(s.effective_database_url())
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(100))
    sink.start()
    publisher = KafkaLifecyclePublisher(publisher_config(s))
    try:
        with serve(create_app(api_config(s), store, publisher)) as api_url:
            yield Stack(s, store, api_url)
    finally:
        publisher.close()
        sink.stop()
        store.close()


def routed_ids(s: Settings) -> dict[str, dict[str, Any]]:
    return {m["data"]["case_id"]: m["data"] for m in drain_topic(s, "cases.routed", quiet_s=0.5)}


def test_a_split_report_is_routed_as_a_case_of_its_own(stack: Stack) -> None:
    s, store = stack.settings, stack.store
    now = datetime.now(UTC)
    first = dispute("d-1", now - timedelta(hours=5), phone=mobile(901))
    repeat = dispute(
        "wk-d-1", now - timedelta(hours=4), phone=spaced(mobile(901)), channel="walkin"
    )
    publish_all(s, [first])
    wait_for("d-1 in the store", lambda: store.get_case("d-1"))
    publish_all(s, [repeat])
    wait_for(
        "the repeat linked to d-1 in the store",
        lambda: [r.report_id for r in store.reports_for_case("d-1")] == ["d-1", "wk-d-1"],
    )
    assert "wk-d-1" not in routed_ids(s)  # linked, not routed

    case = store.get_case("d-1")
    assert case is not None
    token, other_token = new_token(), new_token()
    store.add_token(case.committee_id, hash_token(token), None)
    store.add_token("puzhou-street", hash_token(other_token), None)
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
        mine = {"Authorization": f"Bearer {token}"}
        # another committee's token: refused, nothing published
        r = api.post(
            "/cases/d-1/unlink",
            json={"report_id": "wk-d-1", "reason": "不同房屋"},
            headers={"Authorization": f"Bearer {other_token}"},
        )
        assert r.status_code == 403, r.text
        # the case's own report is not a linked one
        r = api.post("/cases/d-1/unlink", json={"report_id": "d-1", "reason": "x"}, headers=mine)
        assert r.status_code == 409, r.text
        body = {"report_id": "wk-d-1", "reason": "不是同一套房屋", "version": 0}
        r1 = api.post("/cases/d-1/unlink", json=body, headers=mine)
        r2 = api.post("/cases/d-1/unlink", json=body, headers=mine)  # a double click
        assert r1.status_code == 202, r1.text
        # the same event again, or, when the sink applied the first already, "not linked"
        assert (r2.status_code, r2.json().get("event_id")) == (202, r1.json()["event_id"]) or (
            r2.status_code == 409 and "not linked" in r2.json()["detail"]
        ), r2.text

        routed = wait_for("the split report routed", lambda: routed_ids(s).get("wk-d-1"))
        assert routed["related"] == ["d-1"]
        wait_for("the new case in the store", lambda: store.get_case("wk-d-1"))
        detail = api.get("/cases/d-1", headers=mine).json()
        assert [r["report_id"] for r in detail["reports"]] == ["d-1"]
        unlinks = [h for h in detail["history"] if h["type"] == "case.unlinked.v1"]
        assert len(unlinks) == 1 and unlinks[0]["applied"]  # applied once, twice submitted
        assert unlinks[0]["data"]["reason"] == "不是同一套房屋"
        # the split case is routed once, even though the unlink was sent twice
        assert [
            m["id"] for m in drain_topic(s, "cases.routed") if m["data"]["case_id"] == "wk-d-1"
        ] == ["wk-d-1/routed"]


def test_two_cases_linked_by_hand_take_later_reports_as_one(stack: Stack) -> None:
    s, store = stack.settings, stack.store
    now = datetime.now(UTC)
    # two applicants, two phones: the worker keeps them apart
    publish_all(
        s,
        [
            dispute("e-1", now - timedelta(hours=5), phone=mobile(902)),
            dispute("e-2", now - timedelta(hours=4), phone=mobile(903), channel="miniapp"),
        ],
    )
    wait_for("both cases in the store", lambda: store.get_case("e-1") and store.get_case("e-2"))
    one, two = store.get_case("e-1"), store.get_case("e-2")
    assert one is not None and two is not None and one.committee_id == two.committee_id
    token = new_token()
    store.add_token(one.committee_id, hash_token(token), None)
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
        mine = {"Authorization": f"Bearer {token}"}
        r = api.post(
            "/cases/e-1/link", json={"other_case_id": "e-2", "reason": "夫妻二人反映同一事项"},
            headers=mine,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        wait_for(
            "the hand link in the store",
            lambda: [r.report_id for r in store.reports_for_case("e-1")] == ["e-1", "e-2"],
        )
        detail = api.get("/cases/e-2", headers=mine).json()
        assert [h["type"] for h in detail["history"]] == ["case.routed.v1"]  # e-2 keeps its own
    # a later report by the second applicant now joins e-1, not e-2
    publish_all(
        s, [dispute("mp-e-2", now - timedelta(hours=1), phone=mobile(903), channel="walkin")]
    )
    linked = wait_for(
        "the later report linked",
        lambda: [
            m
            for m in drain_topic(s, "cases.lifecycle", quiet_s=0.5)
            if m["type"] == "case.linked.v1" and m["data"]["report_id"] == "mp-e-2"
        ],
    )
    assert linked[0]["data"]["case_id"] == "e-1"
    assert "mp-e-2" not in routed_ids(s)
