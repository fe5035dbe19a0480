"""The mediator inbox API over real HTTP (uvicorn on a free port), with the real broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from consumers.api import create_api
from consumers.db import SqlStore
from consumers.lifecycle import KafkaLifecyclePublisher
from consumers.tokens import hash_token, new_token
from fengqiao import localkafka
from fengqiao.settings import Settings
from tests.casetools import SinkProcess, item, publish, routed, sink_env, wait_until
from tests.kafkatools import read_topic

pytestmark = pytest.mark.kafka
NOW = datetime.now(UTC)


@dataclass
class Api:
    url: str
    store: SqlStore
    settings: Settings
    tokens: dict[str, str]

    def client(self, committee: str | None) -> httpx.Client:
        headers = {} if committee is None else {"Authorization": f"Bearer {self.tokens[committee]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def api(kafka_settings: Settings, tmp_path: Path) -> Iterator[Api]:
    s = kafka_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}"})
    store = SqlStore.open(s.effective_database_url())
    tokens = {}
    for committee in ("A", "B"):
        tokens[committee] = new_token()
        store.add_token(committee, hash_token(tokens[committee]), None)
    publisher = KafkaLifecyclePublisher(s)
    port = localkafka.free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(s, store, publisher), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "uvicorn started")
    try:
        yield Api(f"http://127.0.0.1:{port}", store, s, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        publisher.close()
        store.close()


def _seed(api: Api) -> None:
    api.store.apply(
        [
            item("cases.routed", routed("a-1", "A", time=NOW, kind="dispute", category="contract")),
            item("cases.routed", routed("a-2", "A", time=NOW, kind="petition", category="land")),
            item(
                "cases.routed",
                routed(
                    "a-late", "A", time=NOW - timedelta(days=40), deadline=NOW - timedelta(days=10)
                ),
            ),
            item("cases.routed", routed("b-1", "B", time=NOW)),
        ]
    )


def test_status_codes_over_http(api: Api) -> None:
    _seed(api)
    anon, a, b = api.client(None), api.client("A"), api.client("B")
    # 401: no token, a token that is not ours, a malformed header
    r = anon.get("/cases")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert anon.get("/cases", headers={"Authorization": "Bearer fqt_nope"}).status_code == 401
    assert anon.get("/cases/a-1", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert anon.post("/cases/a-1/accept").status_code == 401
    # 403: committee A's token on committee B's case, read or act
    r = a.get("/cases/b-1")
    assert r.status_code == 403 and r.json() == {"detail": "the case belongs to another committee"}
    assert a.post("/cases/b-1/accept").status_code == 403
    assert b.get("/cases/b-1").status_code == 200
    # 404
    assert a.get("/cases/nope").status_code == 404
    assert a.post("/cases/nope/accept").status_code == 404
    # 409: conclude before accepting
    r = a.post("/cases/a-1/conclude", json={"outcome": "agreement"})
    assert r.status_code == 409
    assert r.json()["detail"] == "the case is new; a case must be accepted before it is concluded"
    r = a.post("/cases/a-1/transfer", json={"to_committee_id": "A", "reason": "x"})
    assert r.status_code == 409
    # 422: bad bodies and queries
    assert a.post("/cases/a-1/transfer", json={"to_committee_id": "B"}).status_code == 422
    assert a.post("/cases/a-1/conclude", json={"outcome": "won"}).status_code == 422
    r = a.post("/cases/a-1/conclude", json={"outcome": "withdrawn", "agreed_amount_yuan": "10"})
    assert r.status_code == 422
    assert a.get("/cases", params={"limit": 0}).status_code == 422
    assert a.get("/cases", params={"status": "lost"}).status_code == 422
    # 202 only after the broker acknowledged: the event is on cases.lifecycle, keyed by case
    r = a.post("/cases/a-1/accept")
    assert r.status_code == 202
    assert r.json() == {
        "event_id": "a-1/accepted/0",
        "type": "case.accepted.v1",
        "case_id": "a-1",
        "topic": "cases.lifecycle",
    }
    events = read_topic(
        api.settings, "cases.lifecycle", until=lambda ms: len(ms) >= 1, timeout_s=20
    )
    assert [(e["id"], e["type"], e["data"]) for e in events] == [
        ("a-1/accepted/0", "case.accepted.v1", {"case_id": "a-1", "committee_id": "A"})
    ]


def test_list_filters_and_case_detail_over_http(api: Api) -> None:
    _seed(api)
    a = api.client("A")
    body = a.get("/cases").json()
    assert (body["total"], [c["case_id"] for c in body["items"]]) == (3, ["a-late", "a-1", "a-2"])
    ids = lambda **q: [c["case_id"] for c in a.get("/cases", params=q).json()["items"]]  # noqa: E731
    assert ids(kind="petition") == ["a-2"]
    assert ids(category="contract") == ["a-late", "a-1"]
    assert ids(overdue="true") == ["a-late"]
    assert ids(status="new", limit=1, offset=1) == ["a-1"]
    d = a.get("/cases/a-1").json()
    assert d["routing"]["reasons"] == ["Test rule: every case goes to A."]
    assert d["routing"]["rejected"] == [{"rule_id": "family", "reason": "not a family dispute"}]
    assert d["deadlines"]["overdue"] is False
    assert datetime.fromisoformat(d["deadlines"]["accept_by"]) == NOW + timedelta(days=1)
    assert [h["type"] for h in d["history"]] == ["case.routed.v1"]
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert {
        "/cases",
        "/cases/{case_id}",
        "/cases/{case_id}/accept",
        "/cases/{case_id}/transfer",
        "/cases/{case_id}/conclude",
    } <= set(spec["paths"])
    assert set(spec["paths"]["/cases/{case_id}/transfer"]["post"]["responses"]) >= {
        "202",
        "401",
        "403",
        "404",
        "409",
        "422",
    }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_actions_flow_through_kafka_and_the_sink_moves_the_case(api: Api, tmp_path: Path) -> None:
    sink = SinkProcess(api.settings, tmp_path / "sink.log", extra_env=sink_env(100))
    sink.start()
    a, b = api.client("A"), api.client("B")
    try:
        publish(api.settings, "cases.routed", [routed("m-1", "A", time=NOW)])

        def status(client: httpx.Client, case_id: str) -> str | None:
            r = client.get(f"/cases/{case_id}")
            return r.json()["status"] if r.status_code == 200 else str(r.status_code)

        wait_until(lambda: status(a, "m-1") == "new", 60, "routed case in A's inbox", 0.3)
        assert a.post("/cases/m-1/accept").status_code == 202
        wait_until(lambda: status(a, "m-1") == "accepted", 30, "accepted", 0.2)
        r = a.post("/cases/m-1/transfer", json={"to_committee_id": "B", "reason": "labour matter"})
        assert r.status_code == 202 and r.json()["event_id"] == "m-1/transferred/1"
        wait_until(lambda: status(b, "m-1") == "new", 30, "case in B's inbox", 0.2)
        assert [c["case_id"] for c in a.get("/cases").json()["items"]] == []
        assert [c["case_id"] for c in b.get("/cases").json()["items"]] == ["m-1"]
        assert a.get("/cases/m-1").status_code == 403
        assert b.post("/cases/m-1/accept").status_code == 202
        wait_until(lambda: status(b, "m-1") == "accepted", 30, "accepted by B", 0.2)
        r = b.post(
            "/cases/m-1/conclude", json={"outcome": "agreement", "agreed_amount_yuan": "5000"}
        )
        assert r.status_code == 202
        wait_until(lambda: status(b, "m-1") == "concluded", 30, "concluded", 0.2)
        d = b.get("/cases/m-1").json()
        assert (d["outcome"], d["agreed_amount_yuan"], d["version"]) == ("agreement", "5000", 4)
        assert [h["type"] for h in d["history"]] == [
            "case.routed.v1",
            "case.accepted.v1",
            "case.transferred.v1",
            "case.accepted.v1",
            "case.concluded.v1",
        ]
        assert b.post("/cases/m-1/accept").status_code == 409
    finally:
        sink.stop()


def test_tokens_created_listed_and_revoked_from_the_cli_take_effect_at_once(api: Api) -> None:
    from typer.testing import CliRunner

    from fengqiao.cli import app as cli

    env = {"FENGQIAO_DATABASE_URL": api.settings.effective_database_url(), "COLUMNS": "200"}
    runner = CliRunner()
    listed = runner.invoke(cli, ["tokens", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    ids = {i.committee_id: i.token_id for i in api.store.list_tokens()}
    assert ids["A"] in listed.output and ids["B"] in listed.output
    assert api.tokens["A"] not in listed.output and api.tokens["B"] not in listed.output
    assert api.client("B").get("/cases").status_code == 200

    revoked = runner.invoke(cli, ["tokens", "revoke", ids["B"]], env=env)
    assert revoked.exit_code == 0 and f"revoked token {ids['B']} of committee B" in revoked.output
    assert api.client("B").get("/cases").status_code == 401  # no restart needed
    assert api.client("A").get("/cases").status_code == 200

    again = runner.invoke(cli, ["tokens", "revoke", ids["B"]], env=env)
    assert again.exit_code == 1 and f"no token with id {ids['B']}" in again.output
    bad = runner.invoke(cli, ["tokens", "revoke", "xyz"], env=env)
    assert bad.exit_code == 1 and "6-12 hex" in bad.output and "Traceback" not in bad.output
    only_a = runner.invoke(cli, ["tokens", "list", "--committee", "A"], env=env)
    assert ids["A"] in only_a.output and ids["B"] not in only_a.output
