"""Hostile and odd bodies over real HTTP: never a 500, always a problem naming the field, and
the client's keep-alive connection still serves its next request."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gatewaytools import MemoryGateway, event, memory_gateway, served

NON_OBJECTS = [b"null", b'"hello"', b"42", b"true"]


@pytest.fixture
def gw(tmp_path: Path) -> MemoryGateway:
    return memory_gateway(tmp_path / "home")


@pytest.fixture
def url(gw: MemoryGateway) -> Iterator[str]:
    with served(gw) as u:
        yield u


class Connection:
    """One TCP connection, kept: a request that killed it shows as a changed local port."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self.key = key
        self.conn.connect()
        assert self.conn.sock is not None
        self.local = self.conn.sock.getsockname()

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, str, Any]:
        self.conn.request(
            "POST",
            path,
            body=body,
            headers={"X-API-Key": self.key, "Content-Type": "application/json", **(headers or {})},
        )
        resp = self.conn.getresponse()
        data = resp.read()
        assert self.conn.sock is not None, "the server closed the connection"
        assert self.conn.sock.getsockname() == self.local, "the connection was replaced"
        return resp.status, resp.getheader("content-type") or "", json.loads(data)


def _problem(status: int, ctype: str, body: Any) -> list[dict[str, str]]:
    assert ctype == "application/problem+json", ctype
    assert body["status"] == status and body["title"] and body["detail"]
    assert isinstance(body["errors"], list)
    return list(body["errors"])


def test_bodies_that_are_not_objects_get_422_and_the_connection_lives(
    gw: MemoryGateway, url: str
) -> None:
    c = Connection(url, gw.key)
    for body in NON_OBJECTS:
        status, ctype, doc = c.post("/v1/events/dispute", body)
        assert status == 422, (body, doc)
        assert _problem(422, ctype, doc) == [{"path": "", "problem": "event must be a JSON object"}]
        status, ctype, doc = c.post("/v1/events/dispute/batch", body)
        assert status == 422, (body, doc)
        assert [e["path"] for e in _problem(422, ctype, doc)] == [""]
    status, ctype, doc = c.post("/v1/events/dispute/batch", b'[1, "a", null]')
    assert status == 422
    assert [(e["path"], e["problem"]) for e in _problem(422, ctype, doc)] == [
        ("[0]", "event must be a JSON object"),
        ("[1]", "event must be a JSON object"),
        ("[2]", "event must be a JSON object"),
    ]
    status, _, doc = c.post("/v1/events/dispute", json.dumps(event(1)).encode())
    assert status == 202 and doc == {"id": "gw-1", "duplicate": False}
    assert gw.sent_ids() == ["gw-1"]


def _nested_in_summary(levels: int) -> bytes:
    ev = event(2, summary="PLACEHOLDER")
    return json.dumps(ev).replace('"PLACEHOLDER"', "[" * levels + "]" * levels).encode()


def test_deep_nesting_is_refused_before_parsing(gw: MemoryGateway, url: str) -> None:
    c = Connection(url, gw.key)
    top = b"[" * 100_000 + b"]" * 100_000
    for path in ("/v1/events/dispute", "/v1/events/dispute/batch"):
        status, ctype, doc = c.post(path, top)
        assert status == 422, doc
        (err,) = _problem(422, ctype, doc)
        assert err["path"] == "[0]" * 32 and err["problem"] == "nested deeper than 32 levels"
    status, ctype, doc = c.post("/v1/events/dispute", _nested_in_summary(50_000))
    assert status == 422, doc
    (err,) = _problem(422, ctype, doc)
    assert err["path"].startswith("data.summary[0]"), err
    batch = b"[" + _nested_in_summary(50_000) + b"]"
    status, ctype, doc = c.post("/v1/events/dispute/batch", batch)
    assert status == 422 and _problem(422, ctype, doc)[0]["path"].startswith("[0].data.summary")
    # Deep but within the limit is parsed as usual (and then judged by the contract).
    status, ctype, doc = c.post("/v1/events/dispute", _nested_in_summary(20))
    assert status == 422 and [e["path"] for e in _problem(422, ctype, doc)] == ["data.summary"]
    status, _, doc = c.post("/v1/events/dispute", json.dumps(event(3)).encode())
    assert status == 202 and doc["id"] == "gw-3"


def test_integer_time_is_refused_naming_the_field(gw: MemoryGateway, url: str) -> None:
    c = Connection(url, gw.key)
    for value in (1_764_000_000, 1_764_000_000.5, True):
        ev = {**event(4), "time": value}
        status, ctype, doc = c.post("/v1/events/dispute", json.dumps(ev).encode())
        assert status == 422, (value, doc)
        assert [e["path"] for e in _problem(422, ctype, doc)] == ["time"]
        assert "not a number" in doc["errors"][0]["problem"]
    assert gw.sent_ids() == []


def test_nul_in_summary_is_refused_and_a_bom_is_ignored(gw: MemoryGateway, url: str) -> None:
    c = Connection(url, gw.key)
    secret = "张三 13912345678"
    ev = event(5, summary=f"{secret}\u0000tail")
    status, ctype, doc = c.post("/v1/events/dispute", json.dumps(ev).encode())
    assert status == 422
    assert _problem(422, ctype, doc) == [
        {"path": "data.summary", "problem": "must not contain the NUL character (U+0000)"}
    ]
    assert secret not in json.dumps(doc, ensure_ascii=False)
    status, _, doc = c.post("/v1/events/dispute", b"\xef\xbb\xbf" + json.dumps(event(6)).encode())
    assert status == 202 and doc["id"] == "gw-6"
    # Not UTF-8, or nothing at all: 400, the connection survives.
    for body in (json.dumps(event(7)).encode("utf-16"), b"", b"   "):
        status, ctype, doc = c.post("/v1/events/dispute", body)
        assert status == 400, (body[:10], doc)
        _problem(400, ctype, doc)
    assert gw.sent_ids() == ["gw-6"]


def test_idempotency_key_longer_than_200_is_refused(gw: MemoryGateway, url: str) -> None:
    c = Connection(url, gw.key)
    body = json.dumps(event(8)).encode()
    status, ctype, doc = c.post("/v1/events/dispute", body, {"Idempotency-Key": "k" * 201})
    assert status == 422
    assert [e["path"] for e in _problem(422, ctype, doc)] == ["header Idempotency-Key"]
    assert "k" * 50 not in json.dumps(doc)
    status, _, doc = c.post("/v1/events/dispute", body, {"Idempotency-Key": "k" * 200})
    assert status == 202 and doc == {"id": "gw-8", "duplicate": False}
    status, _, doc = c.post(
        "/v1/events/dispute", json.dumps(event(9)).encode(), {"Idempotency-Key": "k" * 200}
    )
    assert status == 202 and doc == {"id": "gw-8", "duplicate": True}
    assert gw.sent_ids() == ["gw-8"]


def test_not_json_and_nan_are_422_problems(gw: MemoryGateway, url: str) -> None:
    c = Connection(url, gw.key)
    for body in (b"{oops", b'{"a": NaN}', b'"\\ud800"', b"1" * 5000):
        status, ctype, doc = c.post("/v1/events/dispute", body)
        assert status == 422, (body[:10], doc)
        assert [e["path"] for e in _problem(422, ctype, doc)] == [""]


def test_concurrent_requests_with_one_key_write_one_event(gw: MemoryGateway, url: str) -> None:
    """The in-flight map: twenty requests racing with one key get one event and one id."""

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/v1/events/dispute",
                        json=event(100 + i),
                        headers={"X-API-Key": gw.key, "Idempotency-Key": "same"},
                    )
                    for i in range(20)
                )
            )

    answers = asyncio.run(race())
    assert {r.status_code for r in answers} == {202}
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 1
    assert sum(not r.json()["duplicate"] for r in answers) == 1
    assert gw.sent_ids() == list(ids)


def test_openapi_documents_problem_bodies_and_400_everywhere(gw: MemoryGateway) -> None:
    doc = gw.app.openapi()
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(ops) == 10  # eight publishing operations, /healthz, /readyz
    for path, _method, op in ops:
        for status, resp in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(resp["content"]) == ["application/problem+json"], (path, status)
                schema = resp["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
        if path.startswith("/v1/events/"):
            assert {"400", "401", "403", "413", "422", "503"} <= set(op["responses"])
    assert (
        "U+0000" in doc["info"]["description"] and "byte order mark" in doc["info"]["description"]
    )
    params = doc["paths"]["/v1/events/dispute"]["post"]["parameters"]
    assert params[0]["name"] == "Idempotency-Key" and params[0]["schema"]["maxLength"] == 200
