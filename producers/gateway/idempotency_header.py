"""The ``Idempotency-Key`` header: optional, at most 200 characters, else the envelope id."""

from __future__ import annotations

from starlette.requests import Request

from producers.gateway.problems import Refusal
from schemas.errors import FieldProblem

HEADER = "Idempotency-Key"
MAX_LENGTH = 200  # the key store's column, and what the OpenAPI document promises


def idempotency_key(request: Request, default: str) -> str:
    value = request.headers.get(HEADER)
    if value is None or value == "":
        return default
    if len(value) > MAX_LENGTH:
        raise Refusal(
            422,
            "Invalid header",
            f"the {HEADER} header may hold at most {MAX_LENGTH} characters",
            [FieldProblem(f"header {HEADER}", f"longer than {MAX_LENGTH} characters")],
        )
    return value
