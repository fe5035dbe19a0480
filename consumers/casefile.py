"""The case file: what a case's state is after its events, and which actions that state allows.

Pure code over plain objects. The store folds events with :func:`apply`; the inbox API asks
:func:`refusal` before publishing an action, and the sink asks it again before applying, so a
lifecycle event the state does not allow is recorded in the history but changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

Status = Literal["new", "accepted", "concluded", "closed"]
Action = Literal["accept", "transfer", "conclude", "close"]

STATUSES: tuple[str, ...] = ("new", "accepted", "concluded", "closed")
OPEN_STATUSES: tuple[str, ...] = ("new", "accepted")

ACTION_TYPES: dict[str, str] = {
    "accept": "case.accepted.v1",
    "transfer": "case.transferred.v1",
    "conclude": "case.concluded.v1",
    "close": "case.closed.v1",
}
TYPE_ACTIONS = {t: a for a, t in ACTION_TYPES.items()}
# Past participles for event ids: "<case_id>/accepted/<version>".
ACTION_WORDS = {
    "accept": "accepted",
    "transfer": "transferred",
    "conclude": "concluded",
    "close": "closed",
}

# Default SLA periods (DESIGN.md): kind -> (accept within, conclude within).
SLA_PERIODS: dict[str, tuple[timedelta, timedelta]] = {
    "dispute": (timedelta(days=1), timedelta(days=30)),
    "petition": (timedelta(days=15), timedelta(days=60)),
    "wage_arrears": (timedelta(days=1), timedelta(days=15)),
}


@dataclass(frozen=True, slots=True)
class CaseState:
    """The mutable part of a case: who holds it, where it is, and how it ended."""

    case_id: str
    committee_id: str
    status: Status = "new"
    version: int = 0  # lifecycle events applied so far
    outcome: str | None = None
    agreed_amount_yuan: str | None = None
    accepted_at: datetime | None = None
    concluded_at: datetime | None = None
    closed_at: datetime | None = None


def refusal(state: CaseState, action: str, data: dict[str, Any] | None = None) -> str | None:
    """Why ``action`` is not allowed in ``state`` (a sentence), or None when it is."""
    data = data or {}
    s = state.status
    if action == "accept":
        if s != "new":
            return f"the case is {s}; only a new case can be accepted"
    elif action == "transfer":
        if s not in OPEN_STATUSES:
            return f"the case is {s}; only an open case can be transferred"
        to = data.get("to_committee_id")
        if to == state.committee_id:
            return "the case already belongs to that committee"
    elif action == "conclude":
        if s != "accepted":
            return f"the case is {s}; a case must be accepted before it is concluded"
    elif action == "close":
        if s != "concluded":
            return f"the case is {s}; only a concluded case can be closed"
    else:
        return f"unknown action {action!r}"
    return None


def apply(state: CaseState, event_type: str, data: dict[str, Any], at: datetime) -> CaseState:
    """The state after one lifecycle event. Raises ValueError when the state forbids it."""
    action = TYPE_ACTIONS.get(event_type)
    if action is None:
        raise ValueError(f"not a lifecycle event type: {event_type}")
    why = refusal(state, action, data)
    if why is not None:
        raise ValueError(why)
    nxt = replace(state, version=state.version + 1)
    if action == "accept":
        return replace(nxt, status="accepted", accepted_at=at)
    if action == "transfer":
        # A transferred case arrives new in the other committee's inbox.
        return replace(nxt, status="new", committee_id=data["to_committee_id"], accepted_at=None)
    if action == "conclude":
        amount = data.get("agreed_amount_yuan")
        return replace(
            nxt,
            status="concluded",
            outcome=data["outcome"],
            agreed_amount_yuan=None if amount is None else str(amount),
            concluded_at=at,
        )
    return replace(nxt, status="closed", closed_at=at)


def action_event_id(case_id: str, action: str, version: int) -> str:
    """Deterministic: retrying an action on the same case version yields the same event."""
    return f"{case_id}/{ACTION_WORDS[action]}/{version}"


def accept_due(kind: str, routed_at: datetime) -> datetime | None:
    periods = SLA_PERIODS.get(kind)
    return None if periods is None else routed_at + periods[0]


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    return status in OPEN_STATUSES and deadline < now
