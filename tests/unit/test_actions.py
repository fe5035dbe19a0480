"""The case-action service on the in-memory store and publisher: what a person's action checks,
publishes and refuses (the web pages and the inbox API share it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.actions import ActionNotAcknowledged, ActionRefused, CaseActions
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from tests.casetools import item, routed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MEMBERS = {("wang", "A"), ("li", "A"), ("zhao", "B")}


def _service(is_member: bool = True) -> tuple[CaseActions, MemoryStore, MemoryPublisher]:
    store, pub = MemoryStore(), MemoryPublisher()
    store.apply(
        [
            item("cases.routed", routed("c1", "A", time=NOW)),
            item("cases.routed", routed("c2", "B", time=NOW)),
        ]
    )
    member = (lambda m, c: (m, c) in MEMBERS) if is_member else None
    return CaseActions(store, pub, {"A": "甲", "B": "乙"}, lambda: NOW, member), store, pub


def _sink(store: MemoryStore, pub: MemoryPublisher) -> None:
    store.apply([item("cases.lifecycle", v, i) for i, (_t, _k, v) in enumerate(pub.sent)])


def _refused(excinfo: pytest.ExceptionInfo[ActionRefused]) -> tuple[int, str, str]:
    e = excinfo.value
    return e.status, e.message, e.message_zh


def test_accept_assign_conclude_publish_the_actor_and_the_version() -> None:
    svc, store, pub = _service()
    mine = ["A", "B"]  # a person in two committees
    r = svc.accept("c1", committees=mine, actor="wang", version=0)
    assert (r.event_id, r.type, r.case_id) == ("c1/accepted/0", "case.accepted.v1", "c1")
    _sink(store, pub)
    svc.assign("c1", committees=mine, actor="wang", mediator_id="li", version=1)
    _sink(store, pub)
    svc.conclude(
        "c1", committees=mine, actor="li", outcome="agreement", agreed_amount_yuan="800", version=2
    )
    _sink(store, pub)
    assert [v["data"] for _t, _k, v in pub.sent] == [
        {"case_id": "c1", "committee_id": "A", "version": 0, "actor": "wang"},
        {"case_id": "c1", "committee_id": "A", "version": 1, "actor": "wang", "mediator_id": "li"},
        {
            "case_id": "c1",
            "committee_id": "A",
            "version": 2,
            "actor": "li",
            "outcome": "agreement",
            "agreed_amount_yuan": "800",
        },
    ]
    c = store.get_case("c1")
    assert c is not None and (c.status, c.assignee, c.state.version) == ("concluded", "li", 3)
    assert [(h.type, h.actor) for h in store.history("c1")] == [
        ("case.routed.v1", None),
        ("case.accepted.v1", "wang"),
        ("case.assigned.v1", "wang"),
        ("case.concluded.v1", "li"),
    ]


def test_submitting_twice_publishes_one_event_id_that_the_sink_applies_once() -> None:
    svc, store, pub = _service()
    for _ in range(2):
        svc.accept("c1", committees=["A"], actor="wang", version=0)
    assert [v["id"] for _t, _k, v in pub.sent] == ["c1/accepted/0"] * 2
    _sink(store, pub)
    assert [h.event_id for h in store.history("c1")] == ["c1/routed", "c1/accepted/0"]
    with pytest.raises(ActionRefused) as e:  # the page still shows version 0
        svc.accept("c1", committees=["A"], actor="wang", version=0)
    assert _refused(e)[0] == 409 and "changed since you opened it" in _refused(e)[1]


def test_another_committees_case_is_403_and_an_unknown_one_404() -> None:
    svc, _store, pub = _service()
    with pytest.raises(ActionRefused) as e:
        svc.accept("c2", committees=["A"], actor="wang")
    assert _refused(e) == (403, "the case belongs to another committee", "该案件属于其他调解委员会")
    with pytest.raises(ActionRefused) as e:
        svc.own_case("nope", ["A"])
    assert _refused(e)[:2] == (404, "no such case")
    with pytest.raises(ActionRefused) as e:
        svc.own_case("c1", "AB")  # a bare string is one committee id, not its letters
    assert _refused(e)[0] == 403
    assert pub.sent == []


def test_assign_only_to_a_member_of_the_committee_that_holds_the_case() -> None:
    svc, _store, pub = _service()
    with pytest.raises(ActionRefused) as e:
        svc.assign("c1", committees=["A"], actor="wang", mediator_id="zhao")
    status, message, message_zh = _refused(e)
    assert status == 422 and message.startswith("mediator_id:")
    assert message_zh == "该调解员不属于承办此案件的调解委员会"
    assert pub.sent == []
    unchecked, _s, pub2 = _service(is_member=False)  # committee tokens: no accounts to check
    with pytest.raises(ActionRefused) as e:
        unchecked.assign("c1", committees=["A"], actor=None, mediator_id="王五")  # a name
    assert _refused(e)[:2] == (422, "invalid field(s): mediator_id")
    unchecked.assign("c1", committees=["A"], actor=None, mediator_id="zhao")
    assert len(pub2.sent) == 1


def test_transfer_only_to_a_catalogue_committee_and_with_a_reason() -> None:
    svc, _store, pub = _service()
    with pytest.raises(ActionRefused) as e:
        svc.transfer("c1", committees=["A"], actor="wang", to_committee_id="X", reason="r")
    assert _refused(e) == (
        422,
        "to_committee_id: there is no such committee in the catalogue",
        "目录中没有这个调解委员会，无法转办",
    )
    with pytest.raises(ActionRefused) as e:
        svc.transfer("c1", committees=["A"], actor="wang", to_committee_id="B", reason="  ")
    assert _refused(e)[:2] == (422, "reason: a transfer needs a reason")
    with pytest.raises(ActionRefused) as e:
        svc.transfer("c1", committees=["A"], actor="wang", to_committee_id="A", reason="r")
    assert _refused(e)[:2] == (409, "the case already belongs to that committee")
    assert pub.sent == []


def test_conclude_checks_the_outcome_and_the_amount() -> None:
    svc, store, pub = _service()
    svc.accept("c1", committees=["A"], actor="wang")
    _sink(store, pub)
    with pytest.raises(ActionRefused) as e:
        svc.conclude("c1", committees=["A"], actor="wang", outcome="won")
    assert _refused(e)[:2] == (422, "invalid field(s): outcome")
    with pytest.raises(ActionRefused) as e:
        svc.conclude(
            "c1", committees=["A"], actor="wang", outcome="withdrawn", agreed_amount_yuan="5"
        )
    assert _refused(e)[0] == 422
    with pytest.raises(ActionRefused) as e:
        svc.conclude(
            "c1", committees=["A"], actor="wang", outcome="agreement", agreed_amount_yuan="-1"
        )
    assert _refused(e)[:2] == (422, "invalid field(s): agreed_amount_yuan")
    assert len(pub.sent) == 1


def test_an_unacknowledged_publish_is_503_saying_retrying_is_safe() -> None:
    svc, _store, pub = _service()
    pub.fail = True
    with pytest.raises(ActionNotAcknowledged) as e:
        svc.accept("c1", committees=["A"], actor="wang")
    assert e.value.status == 503
    assert e.value.message.endswith("the action may still be applied; retrying is safe")
    assert "可以放心重试" in e.value.message_zh
