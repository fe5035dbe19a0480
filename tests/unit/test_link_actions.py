"""The mediator's "not the same matter" (unlink) and "link another case" on the in-memory store
and publisher: what they publish for the worker, and what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.actions import ActionNotAcknowledged, ActionRefused, CaseActions
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from schemas.errors import PublishError
from schemas.events import CaseLinked, CaseUnlinked
from tests.casetools import item
from tests.linkactions import plant

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def _service() -> tuple[CaseActions, MemoryStore, MemoryPublisher]:
    store, pub = MemoryStore(), MemoryPublisher()
    plant(store, "A", "B")
    return CaseActions(store, pub, {"A": "甲", "B": "乙"}, lambda: NOW), store, pub


def _sink(store: MemoryStore, pub: MemoryPublisher) -> None:
    store.apply([item("cases.lifecycle", v, 100 + i) for i, (_t, _k, v) in enumerate(pub.sent)])


def _refusal(excinfo: pytest.ExceptionInfo[ActionRefused]) -> tuple[int, str, str]:
    return excinfo.value.status, excinfo.value.message, excinfo.value.message_zh


def test_unlink_publishes_what_the_worker_reads_keyed_by_the_case() -> None:
    svc, store, pub = _service()
    r = svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason=" 不同房屋 ")
    assert (r.type, r.case_id, r.topic) == ("case.unlinked.v1", "c1", "cases.lifecycle")
    [(topic, key, env)] = pub.sent
    assert (topic, key, env["id"], env["subject"]) == ("cases.lifecycle", "c1", r.event_id, "c1")
    assert env["data"] == {
        "case_id": "c1",
        "report_id": "wk-8",
        "channel": "walkin",
        "matched": [],
        "actor": "wang",
        "reason": "不同房屋",
        "version": 0,
    }
    CaseUnlinked.model_validate(env["data"])  # the contract the worker and the sink decode
    _sink(store, pub)
    assert [r.report_id for r in store.reports_for_case("c1")] == ["c1"]
    [entry] = [h for h in store.history("c1") if h.type == "case.unlinked.v1"]
    assert entry.applied and entry.actor == "wang"


def test_submitting_an_unlink_twice_publishes_one_event_and_after_it_applies_it_is_refused() -> (
    None
):
    svc, store, pub = _service()
    for _ in range(2):
        svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason="不同")
    first, second = (env for _t, _k, env in pub.sent)
    assert first == second and first["id"] == "c1/unlinked/wk-8/0.1"
    _sink(store, pub)
    assert [h.event_id for h in store.history("c1")].count(first["id"]) == 1
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason="不同")
    assert _refusal(e)[0] == 409 and "not linked" in _refusal(e)[1]


def test_unlink_refuses_another_committee_an_unlinked_report_a_closed_case_no_reason() -> None:
    svc, _store, pub = _service()
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c1", committees=["B"], actor="zhao", report_id="wk-8", reason="x")
    assert _refusal(e) == (403, "the case belongs to another committee", "该案件属于其他调解委员会")
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c2", committees=["A"], actor="wang", report_id="wk-8", reason="x")
    assert _refusal(e)[0] == 409 and _refusal(e)[2] == "该报告未关联到此案件（可能已经拆分）"
    with pytest.raises(ActionRefused) as e:  # the case's own first report is not "linked"
        svc.unlink("c1", committees=["A"], actor="wang", report_id="c1", reason="x")
    assert _refusal(e)[0] == 409
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c4", committees=["A"], actor="wang", report_id="wk-8", reason="x")
    assert _refusal(e) == (
        409,
        "the case is concluded; only an open case can be unlinked",
        "案件已办结，只有办理中的案件可以拆分报告",
    )
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason="  ")
    assert _refusal(e)[:2] == (422, "reason: a reason is required")
    with pytest.raises(ActionRefused) as e:
        svc.unlink("nope", committees=["A"], actor="wang", report_id="wk-8", reason="x")
    assert _refusal(e)[0] == 404
    with pytest.raises(ActionRefused) as e:
        svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason="x", version=3)
    assert _refusal(e)[0] == 409 and "changed" in _refusal(e)[1]
    assert pub.sent == []


def test_link_publishes_a_link_by_hand_that_the_worker_merges() -> None:
    svc, store, pub = _service()
    r = svc.link("c1", committees=["A"], actor="wang", other_case_id="c2", reason="同一漏水")
    [(_topic, key, env)] = pub.sent
    assert key == "c1" and env["id"] == r.event_id == "c1/linked/c2/0.0"
    data = env["data"]
    assert data["case_id"] == "c1" and data["report_id"] == "c2"
    assert data["actor"] == "wang"  # the worker merges only a link with an actor
    assert (data["channel"], data["kind"], data["reason"]) == ("miniapp", "dispute", "同一漏水")
    CaseLinked.model_validate(data)
    svc.link("c1", committees=["A"], actor="wang", other_case_id="c2", reason="同一漏水")
    assert pub.sent[1][2] == env  # resubmitted: the same event
    _sink(store, pub)
    assert [r.report_id for r in store.reports_for_case("c1")] == ["c1", "c2", "wk-8"]  # by time
    with pytest.raises(ActionRefused) as e:
        svc.link("c1", committees=["A"], actor="wang", other_case_id="c2", reason="x")
    assert _refusal(e)[0] == 409 and "already" in _refusal(e)[1]
    with pytest.raises(ActionRefused) as e:  # the other way round, after the merge
        svc.link("c2", committees=["A"], actor="wang", other_case_id="c1", reason="x")
    assert _refusal(e)[0] == 409


def test_a_committee_token_links_with_the_service_as_actor() -> None:
    svc, _store, pub = _service()
    svc.link("c1", committees=["A"], actor=None, other_case_id="c2", reason="同一事项")
    assert pub.sent[0][2]["data"]["actor"] == "fengqiao/inbox"


@pytest.mark.parametrize(
    ("other", "committees", "status", "zh"),
    [
        ("c3", ["A"], 403, "要关联的案件属于其他调解委员会"),
        ("c4", ["A"], 409, "要关联的案件已办结或关闭，只能关联办理中的案件"),
        ("c1", ["A"], 422, "不能将案件与其自身关联"),
        ("zz", ["A"], 422, "没有这个案件编号，无法关联"),
    ],
)
def test_link_refuses(other: str, committees: list[str], status: int, zh: str) -> None:
    svc, _store, pub = _service()
    with pytest.raises(ActionRefused) as e:
        svc.link("c1", committees=committees, actor="wang", other_case_id=other, reason="x")
    assert (e.value.status, e.value.message_zh) == (status, zh)
    assert e.value.message.startswith("other_case_id: ")
    with pytest.raises(ActionRefused) as e:  # a closed case takes no other
        svc.link("c4", committees=["A"], actor="wang", other_case_id="c2", reason="x")
    assert e.value.status == 409
    assert pub.sent == []


def test_a_broker_that_does_not_acknowledge_answers_retry_safe() -> None:
    svc, store, _pub = _service()

    class Down:
        def publish(self, *_a: object) -> None:
            raise PublishError("no ack")

    svc.publisher = Down()  # type: ignore[assignment]
    with pytest.raises(ActionNotAcknowledged):
        svc.unlink("c1", committees=["A"], actor="wang", report_id="wk-8", reason="x")
