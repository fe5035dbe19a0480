"""The mediator inbox API over real HTTP (uvicorn on a free port), with the real broker and a
real sink process. The status codes and filters are tested in process (test_api_unit.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from consumers.api import create_app
from consumers.db import SqlStore
from consumers.lifecycle import KafkaLifecyclePublisher
from consumers.tokens import hash_token, new_token
from fengqiao import localkafka
from fengqiao.settings import Settings
from fengqiao.wiring import api_config, publisher_config
from tests.casetools import SinkProcess, item, publish, routed, sink_env, wait_until
from tests.kafkatools import read_topic

pytestmark = pytest.mark.kafka
NOW = datetime.now(UTC)
# Two committees of the packaged catalogue: transfers go only to catalogue committees.
A, B = "yongzhong-street", "longwan-labor"


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
    for committee in (A, B):
        tokens[committee] = new_token()
        store.add_token(committee, hash_token(tokens[committee]), None)
    publisher = KafkaLifecyclePublisher(publisher_config(s))
    port = localkafka.free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(api_config(s), store, publisher),
            host="127.0.0.1",
            port=port,
            log_level="warning",
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


@pytest.fixture
def sink(api: Api, tmp_path: Path) -> Iterator[SinkProcess]:
    proc = SinkProcess(api.settings, tmp_path / "sink.log", extra_env=sink_env(100))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _status(client: httpx.Client, case_id: str) -> str | None:
    r = client.get(f"/cases/{case_id}")
    return r.json()["status"] if r.status_code == 200 else str(r.status_code)


def test_actions_flow_through_kafka_and_the_sink_moves_the_case(
    api: Api, sink: SinkProcess
) -> None:
    a, b = api.client(A), api.client(B)
    assert a.get("/readyz").json() == {"status": "ok", "reason": None}
    publish(api.settings, "cases.routed", [routed("m-1", A, time=NOW)])
    wait_until(lambda: _status(a, "m-1") == "new", 60, "routed case in A's inbox", 0.3)
    r = a.post("/cases/m-1/accept")
    # 202 only after the broker acknowledged: the event is on cases.lifecycle, keyed by case
    assert r.status_code == 202
    assert r.json() == {
        "event_id": "m-1/accepted/0",
        "type": "case.accepted.v1",
        "case_id": "m-1",
        "topic": "cases.lifecycle",
    }
    events = read_topic(
        api.settings, "cases.lifecycle", until=lambda ms: len(ms) >= 1, timeout_s=20
    )
    assert [(e["id"], e["type"], e["data"]) for e in events] == [
        ("m-1/accepted/0", "case.accepted.v1", {"case_id": "m-1", "committee_id": A, "version": 0})
    ]
    wait_until(lambda: _status(a, "m-1") == "accepted", 30, "accepted", 0.2)
    r = a.post("/cases/m-1/assign", json={"mediator_id": "chen.wei", "version": 1})
    assert r.status_code == 202
    wait_until(lambda: a.get("/cases/m-1").json()["assignee"] == "chen.wei", 30, "assigned")
    r = a.post("/cases/m-1/transfer", json={"to_committee_id": B, "reason": "labour matter"})
    assert r.status_code == 202 and r.json()["event_id"] == "m-1/transferred/2"
    wait_until(lambda: _status(b, "m-1") == "new", 30, "case in B's inbox", 0.2)
    assert [c["case_id"] for c in a.get("/cases").json()["items"]] == []
    assert [c["case_id"] for c in b.get("/cases", params={"unassigned": True}).json()["items"]] == [
        "m-1"
    ]
    assert a.get("/cases/m-1").status_code == 403
    assert b.post("/cases/m-1/accept").status_code == 202
    wait_until(lambda: _status(b, "m-1") == "accepted", 30, "accepted by B", 0.2)
    r = b.post("/cases/m-1/conclude", json={"outcome": "agreement", "agreed_amount_yuan": "5000"})
    assert r.status_code == 202
    wait_until(lambda: _status(b, "m-1") == "concluded", 30, "concluded", 0.2)
    d = b.get("/cases/m-1").json()
    assert (d["outcome"], d["agreed_amount_yuan"], d["version"]) == ("agreement", "5000", 5)
    assert [(h["type"], h["applied"]) for h in d["history"]] == [
        ("case.routed.v1", True),
        ("case.accepted.v1", True),
        ("case.assigned.v1", True),
        ("case.transferred.v1", True),
        ("case.accepted.v1", True),
        ("case.concluded.v1", True),
    ]
    assert b.post("/cases/m-1/accept").status_code == 409


def test_a_transfer_then_an_accept_at_once_leaves_the_case_new_with_the_other_committee(
    api: Api, tmp_path: Path
) -> None:
    """Committee A transfers a case to B and at once accepts it. Both requests are answered
    202 (no sink runs yet, so the store has not moved), but the sink must not apply the
    accept: the case ends owned by B, new."""
    a, b = api.client(A), api.client(B)
    api.store.apply([item("cases.routed", routed("s-1", A, time=NOW))])
    transfer = a.post("/cases/s-1/transfer", json={"to_committee_id": B, "reason": "labour"})
    accept = a.post("/cases/s-1/accept")
    assert (transfer.status_code, accept.status_code) == (202, 202), accept.text
    assert (transfer.json()["event_id"], accept.json()["event_id"]) == (
        "s-1/transferred/0",
        "s-1/accepted/0",
    )
    sink = SinkProcess(api.settings, tmp_path / "sink.log", extra_env=sink_env(100))
    sink.start()
    try:
        wait_until(lambda: len(api.store.history("s-1")) == 3, 60, "both actions recorded", 0.2)
    finally:
        sink.stop()
    c = api.store.get_case("s-1")
    assert c is not None and (c.committee_id, c.status, c.state.version) == (B, "new", 1)
    assert [(h.type, h.applied, h.note) for h in api.store.history("s-1")] == [
        ("case.routed.v1", True, None),
        ("case.transferred.v1", True, None),
        (
            "case.accepted.v1",
            False,
            f"committee {A} no longer holds the case; it belongs to {B}",
        ),
    ]
    assert b.get("/cases/s-1").json()["status"] == "new"
    assert a.get("/cases/s-1").status_code == 403


def test_a_transfer_to_a_committee_outside_the_catalogue_is_refused_everywhere(
    api: Api, sink: SinkProcess
) -> None:
    a = api.client(A)
    publish(api.settings, "cases.routed", [routed("u-1", A, time=NOW)])
    wait_until(lambda: _status(a, "u-1") == "new", 60, "routed case in A's inbox", 0.3)
    r = a.post("/cases/u-1/transfer", json={"to_committee_id": "no-such-committee", "reason": "x"})
    assert r.status_code == 422
    assert r.json()["detail"] == "to_committee_id: there is no such committee in the catalogue"
    # an integration that writes to the topic directly is refused by the sink
    rogue = {
        "id": "u-1/transferred/0",
        "source": "some/integration",
        "type": "case.transferred.v1",
        "time": NOW.isoformat(),
        "subject": "u-1",
        "data": {
            "case_id": "u-1",
            "committee_id": A,
            "version": 0,
            "to_committee_id": "no-such-committee",
            "reason": "x",
        },
    }
    publish(api.settings, "cases.lifecycle", [rogue], key="u-1")
    wait_until(lambda: len(api.store.history("u-1")) == 2, 30, "the transfer recorded", 0.2)
    last = api.store.history("u-1")[-1]
    assert (last.applied, last.note) == (
        False,
        "the committee the case was transferred to is not in the catalogue",
    )
    assert [c["case_id"] for c in a.get("/cases").json()["items"]] == ["u-1"]


def test_tokens_created_listed_and_revoked_from_the_cli_take_effect_at_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from fengqiao.cli import app as cli

    monkeypatch.setattr("fengqiao.cli._settings", None)  # read the environment given below

    env = {"FENGQIAO_DATABASE_URL": api.settings.effective_database_url(), "COLUMNS": "200"}
    runner = CliRunner()
    listed = runner.invoke(cli, ["tokens", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    ids = {i.committee_id: i.token_id for i in api.store.list_tokens()}
    assert ids[A] in listed.output and ids[B] in listed.output
    assert api.tokens[A] not in listed.output and api.tokens[B] not in listed.output
    assert api.client(B).get("/cases").status_code == 200

    revoked = runner.invoke(cli, ["tokens", "revoke", ids[B]], env=env)
    assert revoked.exit_code == 0 and f"revoked token {ids[B]} of committee {B}" in revoked.output
    assert api.client(B).get("/cases").status_code == 401  # no restart needed
    assert api.client(A).get("/cases").status_code == 200

    again = runner.invoke(cli, ["tokens", "revoke", ids[B]], env=env)
    assert again.exit_code == 1 and f"no token with id {ids[B]}" in again.output
    bad = runner.invoke(cli, ["tokens", "revoke", "xyz"], env=env)
    assert bad.exit_code == 1 and "6-12 hex" in bad.output and "Traceback" not in bad.output
    only_a = runner.invoke(cli, ["tokens", "list", "--committee", A], env=env)
    assert ids[A] in only_a.output and ids[B] not in only_a.output
