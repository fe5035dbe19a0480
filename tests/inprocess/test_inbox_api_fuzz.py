"""Schemathesis over the inbox API's OpenAPI document, in process (memory store and publisher,
a valid committee token): bounded and seeded, so a failure replays. No request may get a
server error, a status code or content type the document does not list, or a body that does
not match the documented schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from consumers.api import ApiConfig, create_app
from consumers.lifecycle import MemoryPublisher
from consumers.store import MemoryStore
from consumers.tokens import hash_token
from tests.casetools import item, lifecycle, routed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "fqt_fuzz-token"


def _app() -> object:
    store = MemoryStore()
    store.add_token("A", hash_token(TOKEN), "fuzz")
    store.apply(
        [
            item("cases.routed", routed("a-1", "A", time=NOW)),
            item("cases.routed", routed("a-2", "A", time=NOW - timedelta(days=40))),
            item("cases.routed", routed("b-1", "B", time=NOW)),
            item("cases.lifecycle", lifecycle("a-2", "accept", 0, "A")),
        ]
    )
    return create_app(ApiConfig({"A": "甲", "B": "乙"}), store, MemoryPublisher(), lambda: NOW)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@seed(20261201)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_inbox_api_answers_only_what_it_documents(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
