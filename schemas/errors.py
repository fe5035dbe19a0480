"""The project's exception root and the field-level problem report shared by every intake path."""

from __future__ import annotations

from dataclasses import dataclass


class FengqiaoError(Exception):
    """Root of every error Fengqiao raises on purpose."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where it is and what is wrong, never the offending value."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class PublishError(FengqiaoError):
    """The broker did not acknowledge an event in time; it may still arrive, and sending it
    again is safe (every event has a deterministic id)."""


class ContractError(FengqiaoError):
    """An event does not satisfy its contract. ``problems`` names every invalid field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems) or "invalid event")

    @property
    def reason(self) -> str:
        return str(self)
