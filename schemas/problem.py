"""The one error body both HTTP APIs answer with (``application/problem+json``, RFC 9457):
a sentence, its Chinese form where staff read it, and each invalid field by path, never by
value."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    path: str = Field(
        description="Where the problem is, e.g. data.parties[0].phone or body.outcome"
    )
    problem: str = Field(description="What is wrong (never the value itself)")


class Problem(BaseModel):
    status: int | None = Field(default=None, description="The HTTP status, repeated")
    title: str | None = Field(default=None, description="A short, fixed summary of the kind")
    detail: str = Field(description="What went wrong, in one sentence")
    detail_zh: str | None = Field(default=None, description="The same sentence in Chinese")
    errors: list[FieldError] | None = Field(
        default=None, description="For 422: each invalid field (never its value)"
    )
