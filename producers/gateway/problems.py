"""Refusals and their ``application/problem+json`` bodies (RFC 9457), the gateway's one error shape.

Handlers raise ``Refusal``; one exception handler turns it into a response, so a batch can
collect its items' refusals as data instead of reading back its own responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import Request
from fastapi.responses import JSONResponse

from schemas.errors import FengqiaoError, FieldProblem
from schemas.problem import FieldError, Problem

PROBLEM_JSON = "application/problem+json"


class Refusal(FengqiaoError):
    """A request the gateway answers with an error status; never carries a submitted value."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        problems: Sequence[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail
        self.problems = list(problems)
        self.headers = dict(headers or {})

    @classmethod
    def invalid(cls, title: str, problems: Sequence[FieldProblem]) -> Refusal:
        """422 whose detail lists every problem."""
        return cls(422, title, "; ".join(str(p) for p in problems), problems)

    def body(self) -> Problem:
        return Problem(
            status=self.status,
            title=self.title,
            detail=self.detail,
            errors=[FieldError(path=p.path, problem=p.problem) for p in self.problems],
        )

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body().model_dump(exclude_none=True),
            status_code=self.status,
            headers=self.headers,
            media_type=PROBLEM_JSON,
        )


async def refusal_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    return exc.response()
