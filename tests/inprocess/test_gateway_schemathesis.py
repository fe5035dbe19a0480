"""Schemathesis over the gateway's own OpenAPI document, in process (ASGI, in-memory sender).

Bounded and reproducible: 50 examples per operation, derandomized. Every answer must be
documented: no 5xx, no status code or content type the document does not list, and bodies
and headers that match their schemas.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.gatewaytools import SOURCE, memory_gateway

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Built at collection: schemathesis needs the schema to generate one test per operation.
# (Its fixture loader does not work with this pytest.) The directory goes when pytest exits.
_HOME = tempfile.TemporaryDirectory(prefix="fq-gw-schemathesis-")
GATEWAY = memory_gateway(Path(_HOME.name))
schema = schemathesis.openapi.from_asgi("/openapi.json", GATEWAY.app)


def _own_source(body: object) -> None:
    """Generated events name random sources; give them the key's, so checks reach past 403."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("source"), str):
            item["source"] = SOURCE


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_gateway_answers_only_what_it_documents(case: Any) -> None:
    _own_source(case.body)
    case.call_and_validate(headers={"X-API-Key": GATEWAY.key}, checks=CHECKS)
