"""The case file: what a case's state is after its events, and which actions that state allows.

Pure code over plain objects. The store folds events with :func:`apply`; the action service asks
:func:`check` before publishing an action, and the sink asks again (through :func:`apply`)
before applying, so a lifecycle event the state does not allow, or one made against a version or
by a committee that is no longer current, is recorded in the history but changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

Status = Literal["new", "accepted", "concluded", "closed"]
Action = Literal["accept", "assign", "transfer", "conclude", "close"]

STATUSES: tuple[str, ...] = ("new", "accepted", "concluded", "closed")
OPEN_STATUSES: tuple[str, ...] = ("new", "accepted")
# How a mediator reads a status in a sentence.
STATUS_ZH = {"new": "待受理", "accepted": "已受理", "concluded": "已办结", "closed": "已归档"}

ACTION_TYPES: dict[str, str] = {
    "accept": "case.accepted.v1",
    "assign": "case.assigned.v1",
    "transfer": "case.transferred.v1",
    "conclude": "case.concluded.v1",
    "close": "case.closed.v1",
}
TYPE_ACTIONS = {t: a for a, t in ACTION_TYPES.items()}
# Past participles for event ids: "<case_id>/accepted/<version>".
ACTION_WORDS = {
    "accept": "accepted",
    "assign": "assigned",
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
    assignee: str | None = None  # the mediator's account id, within the owning committee


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action is not applied: an English sentence (stored as the history note), the same
    in Chinese for mediators, and the HTTP status an API answers with."""

    message: str
    message_zh: str
    status: int = 409


def stale(state: CaseState, data: dict[str, Any]) -> Refusal | None:
    """Whether an action was made by a committee that no longer holds the case, or against a
    version that is no longer current. An event without a version (written before events
    carried one) is checked for its committee only."""
    committee = data.get("committee_id")
    if committee != state.committee_id:
        return Refusal(
            f"committee {committee} no longer holds the case; it belongs to {state.committee_id}",
            "该案件已不属于发起操作的调解委员会",
        )
    version = data.get("version")
    if version is not None and version != state.version:
        return Refusal(
            f"the case changed since the action was made (version {version}, now {state.version})",
            "案件在操作之后已有变化，此操作未执行；请刷新后重试",
        )
    return None


def check(state: CaseState, action: str, data: dict[str, Any] | None = None) -> Refusal | None:
    """Why ``action`` is not allowed in ``state``, or None when it is. Staleness is separate
    (:func:`stale`): the API reads the current version itself."""
    data = data or {}
    s = state.status
    zh = STATUS_ZH.get(s, s)
    if action == "accept":
        if s != "new":
            return Refusal(
                f"the case is {s}; only a new case can be accepted",
                f"案件{zh}，只有待受理的案件可以受理",
            )
    elif action == "assign":
        if s not in OPEN_STATUSES:
            return Refusal(
                f"the case is {s}; only an open case can be assigned",
                f"案件{zh}，只有办理中的案件可以分派",
            )
        if data.get("mediator_id") == state.assignee:
            return Refusal("the case is already assigned to that mediator", "案件已分派给该调解员")
    elif action == "transfer":
        if s not in OPEN_STATUSES:
            return Refusal(
                f"the case is {s}; only an open case can be transferred",
                f"案件{zh}，只有办理中的案件可以转办",
            )
        if data.get("to_committee_id") == state.committee_id:
            return Refusal("the case already belongs to that committee", "案件已属于该调解委员会")
    elif action == "conclude":
        if s != "accepted":
            return Refusal(
                f"the case is {s}; a case must be accepted before it is concluded",
                f"案件{zh}，案件须先受理才能办结",
            )
    elif action == "close":
        if s != "concluded":
            return Refusal(
                f"the case is {s}; only a concluded case can be closed",
                f"案件{zh}，只有已办结的案件可以归档",
            )
    else:
        return Refusal(f"unknown action {action!r}", "未知的操作", 422)
    return None


def refusal(state: CaseState, action: str, data: dict[str, Any] | None = None) -> str | None:
    """Why ``action`` is not allowed in ``state`` (an English sentence), or None when it is."""
    why = check(state, action, data)
    return None if why is None else why.message


def apply(state: CaseState, event_type: str, data: dict[str, Any], at: datetime) -> CaseState:
    """The state after one lifecycle event. Raises ValueError (the English reason) when the
    event is stale or the state forbids it."""
    action = TYPE_ACTIONS.get(event_type)
    if action is None:
        raise ValueError(f"not a lifecycle event type: {event_type}")
    why = stale(state, data) or check(state, action, data)
    if why is not None:
        raise ValueError(why.message)
    nxt = replace(state, version=state.version + 1)
    if action == "accept":
        return replace(nxt, status="accepted", accepted_at=at)
    if action == "assign":
        return replace(nxt, assignee=data["mediator_id"])
    if action == "transfer":
        # A transferred case arrives new and unassigned in the other committee's inbox.
        return replace(
            nxt,
            status="new",
            committee_id=data["to_committee_id"],
            accepted_at=None,
            assignee=None,
        )
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
