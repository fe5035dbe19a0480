"""POST /cases/{id}/unlink and /cases/{id}/link on the inbox API in process: what they publish,
what they refuse (as documented Problem bodies), and resubmission."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from consumers.api import ApiConfig, create_app
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from consumers.tokens import hash_token
from tests.casetools import item
from tests.linkactions import plant

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.store, self.pub = MemoryStore(), MemoryPublisher()
        for committee in ("A", "B"):
            self.store.add_token(committee, hash_token(f"tok-{committee}"), None)
        plant(self.store, "A", "B")
        self.app = create_app(ApiConfig({"A": "甲", "B": "乙"}), self.store, self.pub, lambda: NOW)

    def client(self, committee: str) -> TestClient:
        c = TestClient(self.app)
        c.headers["Authorization"] = f"Bearer tok-{committee}"
        return c

    def sink(self) -> None:
        self.store.apply(
            [item("cases.lifecycle", v, 100 + i) for i, (_t, _k, v) in enumerate(self.pub.sent)]
        )


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def test_unlink_is_accepted_once_and_the_case_reads_it(inbox: Inbox) -> None:
    a = inbox.client("A")
    body = {"report_id": "wk-8", "reason": "不是同一处房屋", "version": 0}
    first = a.post("/cases/c1/unlink", json=body)
    again = a.post("/cases/c1/unlink", json=body)
    assert first.status_code == again.status_code == 202
    assert (
        first.json()
        == again.json()
        == {
            "event_id": "c1/unlinked/wk-8/0.1",
            "type": "case.unlinked.v1",
            "case_id": "c1",
            "topic": "cases.lifecycle",
        }
    )
    assert {env["id"] for _t, _k, env in inbox.pub.sent} == {"c1/unlinked/wk-8/0.1"}
    inbox.sink()
    case = a.get("/cases/c1").json()
    assert [r["report_id"] for r in case["reports"]] == ["c1"]
    assert [h["type"] for h in case["history"]][-1] == "case.unlinked.v1"
    late = a.post("/cases/c1/unlink", json=body)
    assert late.status_code == 409 and "not linked" in late.json()["detail"]


@pytest.mark.parametrize(
    ("committee", "path", "body", "status"),
    [
        ("B", "/cases/c1/unlink", {"report_id": "wk-8", "reason": "x"}, 403),
        ("A", "/cases/c2/unlink", {"report_id": "wk-8", "reason": "x"}, 409),
        ("A", "/cases/c4/unlink", {"report_id": "wk-8", "reason": "x"}, 409),
        ("A", "/cases/zz/unlink", {"report_id": "wk-8", "reason": "x"}, 404),
        ("A", "/cases/c1/unlink", {"report_id": "wk-8"}, 422),
        ("A", "/cases/c1/unlink", {"report_id": "wk-8", "reason": "  "}, 422),
        ("A", "/cases/c1/link", {"other_case_id": "c3", "reason": "x"}, 403),
        ("B", "/cases/c1/link", {"other_case_id": "c2", "reason": "x"}, 403),
        ("A", "/cases/c1/link", {"other_case_id": "c4", "reason": "x"}, 409),
        ("A", "/cases/c4/link", {"other_case_id": "c1", "reason": "x"}, 409),
        ("A", "/cases/c1/link", {"other_case_id": "c1", "reason": "x"}, 422),
        ("A", "/cases/c1/link", {"other_case_id": "c2", "reason": "x", "extra": 1}, 422),
    ],
)
def test_refusals_are_problems_and_publish_nothing(
    inbox: Inbox, committee: str, path: str, body: dict, status: int
) -> None:
    r = inbox.client(committee).post(path, json=body)
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["detail"] and problem["detail_zh"]  # English and Chinese
    assert "wk-8" not in problem["detail"] and "c3" not in problem["detail"]  # fields, not values
    assert inbox.pub.sent == []


def test_link_joins_the_other_case_and_a_repeat_is_refused_after_it_applied(inbox: Inbox) -> None:
    a = inbox.client("A")
    r = a.post("/cases/c1/link", json={"other_case_id": "c2", "reason": "同一事项"})
    assert r.status_code == 202 and r.json()["type"] == "case.linked.v1"
    [(_t, key, env)] = inbox.pub.sent
    assert key == "c1" and env["data"]["report_id"] == "c2" and env["data"]["actor"]
    inbox.sink()
    assert "c2" in [x["report_id"] for x in a.get("/cases/c1").json()["reports"]]
    again = a.post("/cases/c1/link", json={"other_case_id": "c2", "reason": "同一事项"})
    assert again.status_code == 409


def test_the_openapi_document_names_the_bodies_and_their_errors(inbox: Inbox) -> None:
    doc = inbox.client("A").get("/openapi.json").json()
    for action, field in (("unlink", "report_id"), ("link", "other_case_id")):
        op = doc["paths"][f"/cases/{{case_id}}/{action}"]["post"]
        assert {"202", "400", "401", "403", "404", "409", "422", "503"} <= set(op["responses"])
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(schema["required"]) == {field, "reason"}
