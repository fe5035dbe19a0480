"""The case store keeps every report of a case: a linked report is a history entry, applied
once, that reads "also reported via … on …" in Chinese and English; an unlink is one too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.links import link_sentence
from consumers.store import CaseStore, MemoryStore
from schemas.parse import parse_event
from streams.cases import case_from_event
from streams.intake import linked_out
from streams.linking import Linked
from tests.casetools import T0, item, routed
from tests.linktools import dispute, mobile


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaseStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    from consumers.db import SqlStore

    s = SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield s
    finally:
        s.close()


def linked(report_id: str, channel: str, case_id: str = "c1") -> dict:
    event = dispute(report_id, T0 + timedelta(days=2), phone=mobile(7), channel=channel)
    report = case_from_event(parse_event(event))
    assert report is not None
    return linked_out(report, Linked(case_id, ("applicant_phone",))).value


def unlinked(report_id: str, case_id: str = "c1") -> dict:
    return {
        "id": f"{report_id}/unlinked",
        "source": "fengqiao/inbox",
        "type": "case.unlinked.v1",
        "time": (T0 + timedelta(days=3)).isoformat(),
        "subject": case_id,
        "data": {"case_id": case_id, "report_id": report_id, "actor": "acct-1"},
    }


def test_every_report_of_a_case_is_in_its_history_once(store: CaseStore) -> None:
    hotline = linked("hl-7", "hotline")
    result = store.apply(
        [
            item("cases.routed", routed("c1")),
            item("cases.lifecycle", hotline, 1),
            item("cases.lifecycle", hotline, 2),  # delivered twice
            item("cases.lifecycle", linked("wk-8", "walkin"), 3),
        ]
    )
    assert (result.applied, result.duplicates, result.dead_letters) == (3, 1, 0)
    history = [h for h in store.history("c1") if h.type == "case.linked.v1"]
    assert [h.data["report_id"] for h in history] == ["hl-7", "wk-8"]
    assert all(h.applied for h in history)
    zh = link_sentence(history[0].type, history[0].data, history[0].time)
    en = link_sentence(history[0].type, history[0].data, history[0].time, "en")
    assert zh == "3月3日也经12348热线反映（报告 hl-7，申请人电话相同）"
    assert (
        en == "also reported via the 12348 hotline on 3 March 2026 "
        "(report hl-7, matched by the applicant's phone)"
    )
    assert mobile(7) not in str(history[0].data)


def test_an_unlink_is_kept_in_the_history(store: CaseStore) -> None:
    store.apply(
        [item("cases.routed", routed("c1")), item("cases.lifecycle", linked("wk-8", "walkin"), 1)]
    )
    store.apply([item("cases.lifecycle", unlinked("wk-8"), 2)])
    [entry] = [h for h in store.history("c1") if h.type == "case.unlinked.v1"]
    assert (
        link_sentence(entry.type, entry.data, entry.time)
        == "报告 wk-8 经核实不属同一事项，已另立案件"
    )
