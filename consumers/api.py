"""The mediator inbox API (FastAPI): a committee's cases, and the actions on them.

Every request carries a bearer token bound to one committee. Reads come from the case store;
actions publish a lifecycle event to ``cases.lifecycle`` and answer 202 once the broker has
acknowledged it. The store changes when the sink applies that event, so the case shows the
new state a moment later. Event ids are ``<case_id>/<action>ed/<version>``: retrying an
action on the same version of a case publishes the same event, which the sink applies once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from consumers import casefile
from consumers.lifecycle import LifecyclePublisher, PublishFailed
from consumers.store import CaseQuery, CaseRecord, CaseStore
from consumers.tokens import hash_token
from fengqiao.settings import Settings
from schemas.envelope import Envelope
from schemas.events import (
    Amount,
    CaseAccepted,
    CaseConcluded,
    CaseKind,
    CaseTransferred,
    Outcome,
    dump,
)

SOURCE = "fengqiao/inbox"
PAGE_MAX = 500
Clock = Callable[[], datetime]
StatusName = Literal["new", "accepted", "concluded", "closed"]


def wall_clock() -> datetime:
    return datetime.now(UTC)


# --- response and request models ------------------------------------------------------------


class Problem(BaseModel):
    detail: str


class Rejected(BaseModel):
    rule_id: str
    reason: str


class Routing(BaseModel):
    """Why the case came to this committee."""

    committee_type: str
    tier: str
    rule_id: str
    ruleset_version: str
    reasons: list[str]
    rejected: list[Rejected]


class Deadlines(BaseModel):
    accept_by: datetime | None = Field(description="Default SLA: when acceptance is due")
    conclude_by: datetime = Field(description="The routing decision's deadline")
    overdue: bool


class HistoryItem(BaseModel):
    event_id: str
    type: str
    time: datetime
    committee_id: str | None
    data: dict[str, Any]
    applied: bool
    note: str | None = Field(description="Why the event changed nothing, when it did not")


class SlaAlert(BaseModel):
    event_id: str
    type: str
    clock: str
    due: datetime
    time: datetime


class CaseSummary(BaseModel):
    case_id: str
    kind: str
    street: str
    category: str
    committee_id: str
    status: StatusName
    routed_at: datetime
    deadline: datetime
    overdue: bool


class CaseDetail(CaseSummary):
    version: int = Field(description="Lifecycle events applied so far")
    routing: Routing
    deadlines: Deadlines
    outcome: Outcome | None
    agreed_amount_yuan: str | None
    accepted_at: datetime | None
    concluded_at: datetime | None
    closed_at: datetime | None
    history: list[HistoryItem]
    sla_alerts: list[SlaAlert]


class CaseList(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class ActionAccepted(BaseModel):
    """The lifecycle event was acknowledged by the broker; the store follows shortly."""

    event_id: str
    type: str
    case_id: str
    topic: str = "cases.lifecycle"


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_committee_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.:-]*$")
    reason: str = Field(min_length=1, max_length=1000)


class ConcludeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    agreed_amount_yuan: Amount | None = None

    @model_validator(mode="after")
    def _amount_only_with_agreement(self) -> ConcludeBody:
        if self.agreed_amount_yuan is not None and self.outcome != "agreement":
            raise ValueError("agreed_amount_yuan is only given with outcome 'agreement'")
        return self


# --- the app --------------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The case belongs to another committee"},
    404: {"model": Problem, "description": "No such case"},
}
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": Problem, "description": "The case's state does not allow the action"},
    503: {"model": Problem, "description": "The broker did not acknowledge the event"},
}


_bearer = HTTPBearer(auto_error=False, description="A token bound to one committee")


def committee(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The committee the request's bearer token is bound to, or 401."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    store: CaseStore = request.app.state.store
    found = store.committee_for_token(hash_token(creds.credentials))
    if found is None:
        raise HTTPException(401, "the token is not valid", {"WWW-Authenticate": "Bearer"})
    return found


Committee = Annotated[str, Depends(committee)]


def _summary(c: CaseRecord, now: datetime) -> dict[str, Any]:
    return {
        "case_id": c.case_id,
        "kind": c.kind,
        "street": c.street,
        "category": c.category,
        "committee_id": c.committee_id,
        "status": c.status,
        "routed_at": c.routed_at,
        "deadline": c.deadline,
        "overdue": casefile.is_overdue(c.status, c.deadline, now),
    }


def create_api(
    settings: Settings,
    store: CaseStore,
    publisher: LifecyclePublisher,
    clock: Clock = wall_clock,
) -> FastAPI:
    app = FastAPI(
        title="Fengqiao mediator inbox",
        version="1",
        description=(
            "A mediation committee's cases: list, read (with the routing explanation, "
            "history and deadlines), accept, transfer, conclude. Every request needs a bearer "
            "token bound to a committee (`fengqiao tokens create --committee ID`)."
        ),
    )
    app.state.store = store

    def own_case(case_id: str, committee_id: str) -> CaseRecord:
        case = store.get_case(case_id)
        if case is None:
            raise HTTPException(404, "no such case")
        if case.committee_id != committee_id:
            raise HTTPException(403, "the case belongs to another committee")
        return case

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/cases", response_model=CaseList, responses={401: _ERRORS[401]})
    def list_cases(
        committee_id: Committee,
        status_: Annotated[StatusName | None, Query(alias="status")] = None,
        kind: CaseKind | None = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        overdue: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The committee's cases, soonest deadline first."""
        now = clock()
        q = CaseQuery(status_, kind, category, overdue, limit, offset)
        page = store.list_cases(committee_id, q, now)
        return {
            "items": [_summary(c, now) for c in page.items],
            "total": page.total,
            "limit": limit,
            "offset": offset,
        }

    @app.get("/cases/{case_id:path}", response_model=CaseDetail, responses=_ERRORS)
    def get_case(case_id: str, committee_id: Committee) -> dict[str, Any]:
        """One case with its routing explanation, history and deadlines."""
        c = own_case(case_id, committee_id)
        now = clock()
        return {
            **_summary(c, now),
            "version": c.state.version,
            "routing": {
                "committee_type": c.committee_type,
                "tier": c.tier,
                "rule_id": c.rule_id,
                "ruleset_version": c.ruleset_version,
                "reasons": c.reasons,
                "rejected": c.rejected,
            },
            "deadlines": {
                "accept_by": casefile.accept_due(c.kind, c.routed_at),
                "conclude_by": c.deadline,
                "overdue": casefile.is_overdue(c.status, c.deadline, now),
            },
            "outcome": c.state.outcome,
            "agreed_amount_yuan": c.state.agreed_amount_yuan,
            "accepted_at": c.state.accepted_at,
            "concluded_at": c.state.concluded_at,
            "closed_at": c.state.closed_at,
            "history": [_hist(h) for h in store.history(case_id)],
            "sla_alerts": store.sla_alerts(case_id),
        }

    def act(case_id: str, committee_id: str, action: str, data: dict[str, Any]) -> ActionAccepted:
        c = own_case(case_id, committee_id)
        why = casefile.refusal(c.state, action, data)
        if why is not None:
            raise HTTPException(409, why)
        type_ = casefile.ACTION_TYPES[action]
        event_id = casefile.action_event_id(case_id, action, c.state.version)
        env = Envelope.build(
            id=event_id, source=SOURCE, type=type_, time=clock(), subject=case_id, data=data
        )
        try:
            publisher.publish("cases.lifecycle", case_id, env.model_dump(mode="json"))
        except PublishFailed as err:
            raise HTTPException(503, "the event was not acknowledged; retry the action") from err
        return ActionAccepted(event_id=event_id, type=type_, case_id=case_id)

    @app.post(
        "/cases/{case_id:path}/accept",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def accept(case_id: str, committee_id: Committee) -> ActionAccepted:
        """Accept a new case."""
        data = dump(CaseAccepted(case_id=case_id, committee_id=committee_id))
        return act(case_id, committee_id, "accept", data)

    @app.post(
        "/cases/{case_id:path}/transfer",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def transfer(case_id: str, body: TransferBody, committee_id: Committee) -> ActionAccepted:
        """Hand an open case to another committee, with a reason."""
        data = dump(
            CaseTransferred(
                case_id=case_id,
                committee_id=committee_id,
                to_committee_id=body.to_committee_id,
                reason=body.reason,
            )
        )
        return act(case_id, committee_id, "transfer", data)

    @app.post(
        "/cases/{case_id:path}/conclude",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def conclude(case_id: str, body: ConcludeBody, committee_id: Committee) -> ActionAccepted:
        """Conclude an accepted case with its outcome (and the agreed amount)."""
        data = dump(
            CaseConcluded(
                case_id=case_id,
                committee_id=committee_id,
                outcome=body.outcome,
                agreed_amount_yuan=body.agreed_amount_yuan,
            )
        )
        return act(case_id, committee_id, "conclude", data)

    return app


def _hist(h: Any) -> dict[str, Any]:
    return {
        "event_id": h.event_id,
        "type": h.type,
        "time": h.time,
        "committee_id": h.committee_id,
        "data": h.data,
        "applied": h.applied,
        "note": h.note,
    }
