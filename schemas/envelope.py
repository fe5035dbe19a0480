"""The event envelope, shaped after CloudEvents 1.0. Unknown fields are kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_-]*(/[A-Za-z0-9_.-]+)*$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"


class Envelope(BaseModel):
    """One event on the wire: ``id`` is chosen by the producer and is the idempotency key."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    source: str = Field(min_length=1, max_length=200, pattern=SOURCE_PATTERN)
    type: str = Field(min_length=1, max_length=100)
    time: AwareDatetime
    subject: str | None = Field(default=None, max_length=200)
    data: dict[str, Any]

    @classmethod
    def build(
        cls,
        *,
        id: str,
        source: str,
        type: str,
        time: datetime,
        data: dict[str, Any],
        subject: str | None = None,
    ) -> Envelope:
        return cls(id=id, source=source, type=type, time=time, subject=subject, data=data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()
