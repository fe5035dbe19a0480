"""The inbox API in process (memory store, memory publisher): every status code it answers, the
filters, the OpenAPI document, and what the published lifecycle events carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consumers.api import ApiConfig, create_app
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from consumers.tokens import hash_token
from tests.casetools import item, routed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CATALOGUE = {"A": "甲调委会", "B": "乙调委会"}


class Inbox:
    def __init__(self) -> None:
        self.store, self.pub = MemoryStore(), MemoryPublisher()
        for committee in ("A", "B"):
            self.store.add_token(committee, hash_token(f"tok-{committee}"), None)
        self.app = create_app(ApiConfig(CATALOGUE), self.store, self.pub, lambda: NOW)

    def client(self, committee: str | None) -> TestClient:
        c = TestClient(self.app)
        if committee is not None:
            c.headers["Authorization"] = f"Bearer tok-{committee}"
        return c

    def sink(self) -> None:
        """What the sink does: apply everything published so far, in order."""
        self.store.apply(
            [item("cases.lifecycle", v, i) for i, (_t, _k, v) in enumerate(self.pub.sent)]
        )

    def seed(self) -> None:
        self.store.apply(
            [
                item("cases.routed", routed("a-1", "A", time=NOW, category="contract")),
                item(
                    "cases.routed", routed("a-2", "A", time=NOW, kind="petition", category="land")
                ),
                item(
                    "cases.routed",
                    routed(
                        "a-late",
                        "A",
                        time=NOW - timedelta(days=40),
                        deadline=NOW - timedelta(days=10),
                    ),
                ),
                item("cases.routed", routed("b-1", "B", time=NOW)),
            ]
        )


@pytest.fixture
def inbox() -> Inbox:
    i = Inbox()
    i.seed()
    return i


def test_401_for_no_token_a_wrong_token_and_a_malformed_header(inbox: Inbox) -> None:
    anon = inbox.client(None)
    r = anon.get("/cases")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert anon.get("/cases", headers={"Authorization": "Bearer fqt_nope"}).status_code == 401
    assert anon.get("/cases/a-1", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert anon.post("/cases/a-1/accept").status_code == 401
    assert inbox.pub.sent == []


def test_403_on_another_committees_case_and_404_on_none(inbox: Inbox) -> None:
    a, b = inbox.client("A"), inbox.client("B")
    r = a.get("/cases/b-1")
    assert r.status_code == 403
    assert r.json() == {
        "detail": "the case belongs to another committee",
        "detail_zh": "该案件属于其他调解委员会",
    }
    for action, body in [
        ("accept", None),
        ("assign", {"mediator_id": "m1"}),
        ("transfer", {"to_committee_id": "A", "reason": "x"}),
        ("conclude", {"outcome": "withdrawn"}),
    ]:
        assert a.post(f"/cases/b-1/{action}", json=body).status_code == 403, action
    assert b.get("/cases/b-1").status_code == 200
    assert a.get("/cases/nope").status_code == 404
    assert a.post("/cases/nope/accept").status_code == 404
    assert inbox.pub.sent == []


def test_409_when_the_state_does_not_allow_the_action(inbox: Inbox) -> None:
    a = inbox.client("A")
    r = a.post("/cases/a-1/conclude", json={"outcome": "agreement"})
    assert r.status_code == 409
    assert r.json()["detail"] == "the case is new; a case must be accepted before it is concluded"
    assert r.json()["detail_zh"] == "案件待受理，案件须先受理才能办结"
    r = a.post("/cases/a-1/transfer", json={"to_committee_id": "A", "reason": "x"})
    assert r.status_code == 409
    assert inbox.pub.sent == []


def test_409_when_the_version_sent_is_not_the_current_one(inbox: Inbox) -> None:
    a = inbox.client("A")
    assert a.post("/cases/a-1/accept", json={"version": 0}).status_code == 202
    inbox.sink()
    assert a.get("/cases/a-1").json()["version"] == 1
    r = a.post("/cases/a-1/conclude", json={"outcome": "withdrawn", "version": 0})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("the case changed since you opened it")
    assert len(inbox.pub.sent) == 1
    r = a.post("/cases/a-1/conclude", json={"outcome": "withdrawn", "version": 1})
    assert r.status_code == 202 and r.json()["event_id"] == "a-1/concluded/1"


def test_422_for_bad_bodies_queries_and_committees_outside_the_catalogue(inbox: Inbox) -> None:
    a = inbox.client("A")
    assert a.post("/cases/a-1/transfer", json={"to_committee_id": "B"}).status_code == 422
    assert a.post("/cases/a-1/conclude", json={"outcome": "won"}).status_code == 422
    r = a.post("/cases/a-1/conclude", json={"outcome": "withdrawn", "agreed_amount_yuan": "10"})
    assert r.status_code == 422
    assert a.post("/cases/a-1/accept", json={"version": -1}).status_code == 422
    assert a.post("/cases/a-1/accept", json={"version": True}).status_code == 422
    assert a.post("/cases/a-1/accept", json={"actor": "someone"}).status_code == 422
    assert a.post("/cases/a-1/assign", json={"mediator_id": "张三"}).status_code == 422
    assert a.get("/cases", params={"limit": 0}).status_code == 422
    assert a.get("/cases", params={"status": "lost"}).status_code == 422
    r = a.post("/cases/a-1/transfer", json={"to_committee_id": "no-such-committee", "reason": "x"})
    assert r.status_code == 422
    assert r.json() == {
        "detail": "to_committee_id: there is no such committee in the catalogue",
        "detail_zh": "目录中没有这个调解委员会，无法转办",
    }
    assert inbox.pub.sent == []
    assert a.get("/cases/a-1").json()["committee_id"] == "A"


def test_422_names_the_fields_and_never_echoes_their_values(inbox: Inbox) -> None:
    a = inbox.client("A")
    secret = "13800138000 张三"
    r = a.post("/cases/a-1/transfer", json={"to_committee_id": secret, "reason": "x", "y": 1})
    assert r.status_code == 422
    body = r.json()
    assert secret not in r.text and "13800138000" not in r.text
    assert body["detail"] == "invalid request: body.to_committee_id, body.y"
    assert [e["path"] for e in body["errors"]] == ["body.to_committee_id", "body.y"]
    r = a.post(
        "/cases/a-1/accept", content=b"\xff{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 422) and "not json" not in r.text


def test_503_says_the_action_may_still_be_applied_and_retrying_is_safe(inbox: Inbox) -> None:
    a = inbox.client("A")
    inbox.pub.fail = True
    r = a.post("/cases/a-1/accept")
    assert r.status_code == 503
    body = r.json()
    assert "the action may still be applied; retrying is safe" in body["detail"]
    assert "可以放心重试" in body["detail_zh"]
    assert inbox.pub.sent == []
    assert a.get("/readyz").status_code == 503
    inbox.pub.fail = False
    assert a.post("/cases/a-1/accept").json()["event_id"] == "a-1/accepted/0"  # the same id


def test_202_publishes_a_valid_event_keyed_by_case_with_the_version(inbox: Inbox) -> None:
    from schemas.events import DERIVED_TYPES
    from schemas.parse import parse_event

    a = inbox.client("A")
    r = a.post("/cases/a-1/accept")
    assert r.status_code == 202
    assert r.json() == {
        "event_id": "a-1/accepted/0",
        "type": "case.accepted.v1",
        "case_id": "a-1",
        "topic": "cases.lifecycle",
    }
    r = a.post("/cases/a-2/transfer", json={"to_committee_id": "B", "reason": "labour"})
    assert r.status_code == 202
    (t1, k1, v1), (_t2, k2, v2) = inbox.pub.sent
    assert (t1, k1, k2) == ("cases.lifecycle", "a-1", "a-2")
    assert v1["data"] == {"case_id": "a-1", "committee_id": "A", "version": 0}
    parsed = parse_event(v2, allowed_types=dict(DERIVED_TYPES))
    assert parsed.type == "case.transferred.v1"
    assert parsed.envelope.source == "fengqiao/inbox" and parsed.envelope.subject == "a-2"
    assert dict(parsed.envelope.data) == {
        "case_id": "a-2",
        "committee_id": "A",
        "version": 0,
        "to_committee_id": "B",
        "reason": "labour",
    }


def test_a_retried_action_publishes_the_same_event_id(inbox: Inbox) -> None:
    a = inbox.client("A")
    assert a.post("/cases/a-1/accept").status_code == 202
    assert a.post("/cases/a-1/accept").status_code == 202  # the sink has not applied it yet
    ids = [v["id"] for _t, _k, v in inbox.pub.sent]
    assert ids == ["a-1/accepted/0", "a-1/accepted/0"]
    inbox.sink()  # applied once
    assert [h.applied for h in inbox.store.history("a-1")] == [True, True]
    r = a.post("/cases/a-1/accept")
    assert r.status_code == 409 and "only a new case can be accepted" in r.json()["detail"]


def test_assign_then_the_assigned_and_unassigned_views(inbox: Inbox) -> None:
    a = inbox.client("A")
    r = a.post("/cases/a-1/assign", json={"mediator_id": "li.ming"})
    assert r.status_code == 202 and r.json()["event_id"] == "a-1/assigned/0"
    inbox.sink()
    ids = lambda **q: [c["case_id"] for c in a.get("/cases", params=q).json()["items"]]  # noqa: E731
    assert ids(assignee="li.ming") == ["a-1"]
    assert ids(unassigned="true") == ["a-late", "a-2"]
    d = a.get("/cases/a-1").json()
    assert (d["assignee"], d["status"], d["version"]) == ("li.ming", "new", 1)
    r = a.post("/cases/a-1/assign", json={"mediator_id": "li.ming"})
    assert r.status_code == 409 and r.json()["detail"].endswith("already assigned to that mediator")


def test_a_transfer_and_an_accept_sent_at_once_leave_the_case_new_with_the_other_committee(
    inbox: Inbox,
) -> None:
    """Both requests get 202 (the store has not moved yet); the sink applies only the first."""
    a = inbox.client("A")
    r1 = a.post("/cases/a-1/transfer", json={"to_committee_id": "B", "reason": "labour"})
    r2 = a.post("/cases/a-1/accept")
    assert (r1.status_code, r2.status_code) == (202, 202)
    inbox.sink()
    c = inbox.store.get_case("a-1")
    assert c is not None and (c.committee_id, c.status, c.state.version) == ("B", "new", 1)
    last = inbox.store.history("a-1")[-1]
    assert (last.type, last.applied) == ("case.accepted.v1", False)
    assert last.note == "committee A no longer holds the case; it belongs to B"
    assert a.get("/cases/a-1").status_code == 403
    assert inbox.client("B").get("/cases/a-1").json()["status"] == "new"


def test_list_filters_and_case_detail(inbox: Inbox) -> None:
    a = inbox.client("A")
    body = a.get("/cases").json()
    assert (body["total"], [c["case_id"] for c in body["items"]]) == (3, ["a-late", "a-1", "a-2"])
    ids = lambda **q: [c["case_id"] for c in a.get("/cases", params=q).json()["items"]]  # noqa: E731
    assert ids(kind="petition") == ["a-2"]
    assert ids(category="contract") == ["a-late", "a-1"]
    assert ids(overdue="true") == ["a-late"]
    assert ids(status="new", limit=1, offset=1) == ["a-1"]
    assert ids(street="yongzhong") == ["a-late", "a-1", "a-2"]
    assert ids(street="elsewhere") == []
    d = a.get("/cases/a-1").json()
    assert d["routing"]["reasons"] == ["Test rule: every case goes to A."]
    assert d["routing"]["rejected"] == [{"rule_id": "family", "reason": "not a family dispute"}]
    assert d["routing"]["explanation"] is None
    assert d["deadlines"]["overdue"] is False
    assert datetime.fromisoformat(d["deadlines"]["accept_by"]) == NOW + timedelta(days=1)
    assert [h["type"] for h in d["history"]] == ["case.routed.v1"]


def test_the_routing_explanation_is_shown_as_it_was_sent(inbox: Inbox) -> None:
    env = routed("a-9", "A", time=NOW)
    explanation: dict[str, Any] = {
        "reasons": [{"code": "street_default", "params": {"street": "yongzhong"}}],
        "rejected": [{"rule_id": "family", "code": "category_mismatch", "params": {"x": 1}}],
    }
    env["data"]["explanation"] = explanation
    env["data"]["rejected"][0]["code"] = "category_mismatch"
    inbox.store.apply([item("cases.routed", env)])
    d = inbox.client("A").get("/cases/a-9").json()
    assert d["routing"]["explanation"] == explanation
    assert d["routing"]["rejected"] == [
        {"rule_id": "family", "reason": "not a family dispute", "code": "category_mismatch"}
    ]


def test_health_and_readiness(inbox: Inbox) -> None:
    anon = inbox.client(None)
    assert anon.get("/healthz").json() == {"status": "ok", "reason": None}
    assert anon.get("/readyz").status_code == 200

    class Down(MemoryStore):
        def ping(self) -> None:
            raise ConnectionError("refused")

    app = create_app(ApiConfig(CATALOGUE), Down(), MemoryPublisher())
    r = TestClient(app).get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "reason": "the case store does not answer (ConnectionError)",
    }


def test_the_openapi_document_lists_the_actions_and_their_answers(inbox: Inbox) -> None:
    spec = inbox.client(None).get("/openapi.json").json()
    assert {
        "/cases",
        "/cases/{case_id}",
        "/cases/{case_id}/accept",
        "/cases/{case_id}/assign",
        "/cases/{case_id}/transfer",
        "/cases/{case_id}/conclude",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    for action in ("accept", "assign", "transfer", "conclude"):
        assert set(spec["paths"][f"/cases/{{case_id}}/{action}"]["post"]["responses"]) >= {
            "202",
            "401",
            "403",
            "404",
            "409",
            "422",
            "503",
        }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_the_simulated_mediators_still_work_the_inbox_through_this_api() -> None:
    from producers.mediators import MediatorPlan, Mediators, PlannedCase

    inbox = Inbox()
    cases = {
        f"sim-{i}": PlannedCase(f"sim-{i}", "dispute", NOW, "1200" if i % 2 else None)
        for i in range(6)
    }
    inbox.store.apply(
        [
            item("cases.routed", routed(cid, "AB"[i % 2], time=NOW), i)
            for i, cid in enumerate(sorted(cases))
        ]
    )
    plan = MediatorPlan(cases, frozenset({"sim-2"}))
    crew = Mediators(inbox.client(None), plan, lambda: {c: f"tok-{c}" for c in "AB"}, lambda: None)
    for _ in range(3):  # accept, then conclude, with the sink applying in between
        crew.step()
        inbox.sink()
    assert crew.finished() and crew.stats.errors == 0
    outcomes = {cid: inbox.store.get_case(cid).state.outcome for cid in cases}  # type: ignore[union-attr]
    assert outcomes == {cid: "no_agreement" if cid == "sim-2" else "agreement" for cid in cases}
    assert inbox.store.get_case("sim-1").state.agreed_amount_yuan == "1200"  # type: ignore[union-attr]
