"""The inbox API in process (memory store, memory publisher): the cases real HTTP cannot stage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from consumers.api import create_api
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from consumers.tokens import hash_token
from fengqiao.settings import Settings
from tests.casetools import item, routed


def _client() -> tuple[TestClient, MemoryStore, MemoryPublisher]:
    store, pub = MemoryStore(), MemoryPublisher()
    store.add_token("A", hash_token("tok-a"), None)
    store.apply([item("cases.routed", routed("c1", "A"))])
    client = TestClient(create_api(Settings(), store, pub))
    client.headers["Authorization"] = "Bearer tok-a"
    return client, store, pub


def test_no_broker_acknowledgement_answers_503_and_publishes_nothing() -> None:
    client, _store, pub = _client()
    pub.fail = True
    r = client.post("/cases/c1/accept")
    assert r.status_code == 503
    assert pub.sent == []


def test_a_retried_action_publishes_the_same_event_id() -> None:
    client, store, pub = _client()
    assert client.post("/cases/c1/accept").status_code == 202
    assert client.post("/cases/c1/accept").status_code == 202  # the sink has not applied it yet
    ids = [v["id"] for _t, _k, v in pub.sent]
    assert ids == ["c1/accepted/0", "c1/accepted/0"]
    # once applied, the state moves on and the same action is refused
    store.apply([item("cases.lifecycle", pub.sent[0][2])])
    r = client.post("/cases/c1/accept")
    assert r.status_code == 409 and "only a new case can be accepted" in r.json()["detail"]


def test_published_lifecycle_event_is_a_valid_contract_event() -> None:
    from schemas.events import DERIVED_TYPES
    from schemas.parse import parse_event

    client, _store, pub = _client()
    r = client.post("/cases/c1/transfer", json={"to_committee_id": "B", "reason": "labour"})
    assert r.status_code == 202
    topic, key, value = pub.sent[0]
    assert (topic, key) == ("cases.lifecycle", "c1")
    parsed = parse_event(value, allowed_types=dict(DERIVED_TYPES))
    assert parsed.type == "case.transferred.v1"
    assert parsed.envelope.source == "fengqiao/inbox" and parsed.envelope.subject == "c1"
