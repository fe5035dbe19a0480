"""The gateway's OpenAPI document: every status each operation answers, and its body's type.

Errors are ``application/problem+json`` bodies (``Problem``) on every operation; the event
schemas come from ``schemas/`` so the document and the validator cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from producers.gateway.idempotency_header import HEADER, MAX_LENGTH
from producers.gateway.problems import PROBLEM_JSON
from schemas.events import INTAKE_KINDS
from schemas.export import component_schemas, model_name
from schemas.problem import Problem

DESCRIPTION = (
    "Publish intake events over HTTP. Authenticate with the API key of your integration "
    "(`fengqiao keys create --source SOURCE`) as `X-API-Key` or a bearer token; events must "
    "carry that source. 202 means Kafka acknowledged the write. Send the same "
    "`Idempotency-Key` (default: the envelope id) again safely: it yields one event.\n\n"
    "Bodies are JSON in UTF-8. A UTF-8 byte order mark before the JSON is ignored; a body "
    "that is empty or not UTF-8 is answered 400, JSON that does not parse 422. Arrays and "
    "objects may nest at most 32 levels. `time` must be an RFC 3339 string with a timezone "
    "(a number is refused). No string may contain U+0000 (NUL): it is refused with 422 naming "
    "the field, because the case store cannot keep it. Every error is an "
    "`application/problem+json` body whose `errors` name each field, never its value."
)


class Accepted(BaseModel):
    id: str = Field(description="The event id, acknowledged by Kafka")
    duplicate: bool = Field(
        default=False, description="True when this idempotency key was accepted before"
    )


class BatchAccepted(BaseModel):
    ids: list[str]
    duplicates: int = Field(description="How many events of the batch were accepted before")


class Health(BaseModel):
    status: str = Field(description="ok")


_ERROR_REF = {"$ref": "#/components/schemas/Problem"}


def problem(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _ERROR_REF}}, **extra}


def _responses(accepted: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {
        202: {"model": accepted, "description": "Kafka acknowledged every event"},
        400: problem("The body is empty or not UTF-8 text"),
        401: problem("No API key, or an unknown or revoked one"),
        403: problem("The event's source is not the key's source"),
        413: problem("The body (or the batch) is larger than the limit"),
        422: problem(
            "Invalid JSON, nesting too deep, invalid event(s) or Idempotency-Key; "
            "errors name each field"
        ),
        503: problem(
            "Kafka (or the key store) did not answer; retry after the Retry-After seconds "
            "with the same idempotency key (retrying is safe)",
            headers={"Retry-After": {"schema": {"type": "integer"}}},
        ),
    }


_SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerKey": []}]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation_id(kind: str) -> str:
    return f"publish_{kind.replace('-', '_')}"


def single_operation(kind: str, type_: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model_name(type_)}"}
    return {
        "status_code": 202,
        "summary": f"Publish one {type_} event",
        "responses": _responses(Accepted),
        "tags": ["events"],
        "operation_id": _operation_id(kind),
        "openapi_extra": {
            "requestBody": _body(ref),
            "security": _SECURITY,
            "parameters": [
                {
                    "name": HEADER,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": MAX_LENGTH},
                    "description": "Default: the envelope id. Reused: one event, not two. "
                    f"Longer than {MAX_LENGTH} characters: 422.",
                }
            ],
        },
    }


def batch_operation(kind: str, type_: str, max_batch: int) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model_name(type_)}"}
    schema = {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch}
    return {
        "status_code": 202,
        "summary": f"Publish a batch of {type_} events (all valid, or none written)",
        "responses": _responses(BatchAccepted),
        "tags": ["events"],
        "operation_id": f"{_operation_id(kind)}_batch",
        "openapi_extra": {"requestBody": _body(schema), "security": _SECURITY},
    }


def install_openapi(app: FastAPI) -> None:
    """Build the document once, with the event and error schemas and the two key schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = doc.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas.update(component_schemas([t for t, _ in INTAKE_KINDS.values()]))
            error = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(error.pop("$defs", {}))
            schemas["Problem"] = error
            components["securitySchemes"] = {
                "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerKey": {"type": "http", "scheme": "bearer"},
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
