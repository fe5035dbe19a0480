"""The mediator inbox API (FastAPI): a committee's cases, and the actions on them.

Every request carries a bearer token bound to one committee. Reads come from the case store;
actions go through the case-action service (``consumers.actions``), which publishes a lifecycle
event to ``cases.lifecycle`` and answers 202 once the broker has acknowledged it. The store
changes when the sink applies that event, so the case shows the new state a moment later.
Event ids are ``<case_id>/<action>ed/<version>``: retrying an action on the same version of a
case publishes the same event, which the sink applies once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from consumers import casefile
from consumers.actions import ActionAccepted, ActionError, CaseActions
from consumers.lifecycle import LifecyclePublisher
from consumers.reports import ReportRecord
from consumers.store import CaseQuery, CaseRecord, CaseStore
from consumers.tokens import hash_token
from schemas.events import ACCOUNT_PATTERN, Amount, CaseKind, CaseVersion, Outcome
from schemas.problem import FieldError, Problem

PAGE_MAX = 500
Clock = Callable[[], datetime]
StatusName = Literal["new", "accepted", "concluded", "closed"]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiConfig:
    """What the inbox API needs to know; built from the settings by the composition root."""

    committees: Mapping[str, str] = field(default_factory=dict)  # the catalogue: id -> name


# --- response and request models ------------------------------------------------------------


class Rejected(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer routing events carry codes as well
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
    explanation: dict[str, Any] | None = Field(
        description="The reasons as codes with parameters, when the routing event carried them"
    )


class Deadlines(BaseModel):
    accept_by: datetime | None = Field(description="Default SLA: when acceptance is due")
    conclude_by: datetime = Field(description="The routing decision's deadline")
    overdue: bool


class HistoryItem(BaseModel):
    event_id: str
    type: str
    time: datetime
    committee_id: str | None
    actor: str | None = Field(description="The account that acted (an id), when known")
    data: dict[str, Any]
    applied: bool
    note: str | None = Field(description="Why the event changed nothing, when it did not")


class SlaAlert(BaseModel):
    event_id: str
    type: str
    clock: str
    due: datetime
    time: datetime


class Report(BaseModel):
    """One intake report of the case, as it was sent (validated): the parties with their
    names, phones and id numbers, the employer, contact, amount and summary."""

    report_id: str = Field(description="The intake event's id")
    case_id: str = Field(description="The case the report opened (another case if linked)")
    kind: CaseKind
    source: str = Field(description="The integration that sent it, e.g. hotline/12348")
    channel: str
    time: datetime = Field(description="When it was reported (the event time)")
    street: str = Field(description="The street as sent")
    community: str | None
    data: dict[str, Any] = Field(description="The report's payload (personal data)")


class CaseSummary(BaseModel):
    case_id: str
    kind: str
    street: str
    category: str
    committee_id: str
    status: StatusName
    assignee: str | None = Field(description="The mediator's account id, when assigned")
    routed_at: datetime
    deadline: datetime
    overdue: bool


class CaseDetail(CaseSummary):
    version: int = Field(description="Lifecycle events applied so far; send it with an action")
    routing: Routing
    deadlines: Deadlines
    outcome: Outcome | None
    agreed_amount_yuan: str | None
    accepted_at: datetime | None
    concluded_at: datetime | None
    closed_at: datetime | None
    history: list[HistoryItem]
    sla_alerts: list[SlaAlert]
    reports: list[Report] = Field(
        description="The facts of the case's reports, oldest first (the owning committee's "
        "token only sees the case at all)"
    )


class CaseList(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


_VERSION_DOC = "The case version you acted on; a different current version answers 409"


class _ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: CaseVersion | None = Field(default=None, description=_VERSION_DOC)


class AcceptBody(_ActionBody):
    pass


class AssignBody(_ActionBody):
    mediator_id: str = Field(min_length=1, max_length=200, pattern=ACCOUNT_PATTERN)


class TransferBody(_ActionBody):
    to_committee_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    reason: str = Field(min_length=1, max_length=1000)


class UnlinkBody(_ActionBody):
    report_id: str = Field(
        min_length=1, max_length=200, description="A report linked to this case (its event id)"
    )
    reason: str = Field(min_length=1, max_length=1000, description="Why it is not the same matter")


class LinkBody(_ActionBody):
    other_case_id: str = Field(
        min_length=1,
        max_length=200,
        description="Another open case of your committee: it joins this one",
    )
    reason: str = Field(min_length=1, max_length=1000, description="Why they are one matter")


class ConcludeBody(_ActionBody):
    outcome: Outcome
    agreed_amount_yuan: Amount | None = None

    @model_validator(mode="after")
    def _amount_only_with_agreement(self) -> ConcludeBody:
        if self.agreed_amount_yuan is not None and self.outcome != "agreement":
            raise ValueError("agreed_amount_yuan is only given with outcome 'agreement'")
        return self


class Health(BaseModel):
    status: str
    reason: str | None = None


# --- the app --------------------------------------------------------------------------------

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": Problem,
        "description": "The request names something invalid (e.g. a committee that is not in "
        "the catalogue); the fields are listed, never their values",
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The case belongs to another committee"},
    404: {"model": Problem, "description": "No such case"},
    **_INVALID,
}
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": Problem, "description": "The body is not JSON"},
    409: {
        "model": Problem,
        "description": "The case's state does not allow the action, or it changed since the "
        "version given",
    },
    503: {
        "model": Problem,
        "description": "The broker did not acknowledge in time: the action may still be "
        "applied; retrying is safe",
    },
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


def summary(c: CaseRecord, now: datetime) -> dict[str, Any]:
    return {
        "case_id": c.case_id,
        "kind": c.kind,
        "street": c.street,
        "category": c.category,
        "committee_id": c.committee_id,
        "status": c.status,
        "assignee": c.assignee,
        "routed_at": c.routed_at,
        "deadline": c.deadline,
        "overdue": casefile.is_overdue(c.status, c.deadline, now),
    }


def create_app(
    config: ApiConfig,
    store: CaseStore,
    publisher: LifecyclePublisher,
    clock: Clock = wall_clock,
    *,
    actions: CaseActions | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Fengqiao mediator inbox",
        version="1",
        description=(
            "A mediation committee's cases: list, read (with the routing explanation, "
            "history and deadlines), accept, assign, transfer, conclude. Every request needs a "
            "bearer token bound to a committee (`fengqiao tokens create --committee ID`)."
        ),
    )
    app.state.store = store
    service = actions or CaseActions(store, publisher, config.committees, clock)
    app.state.actions = service

    @app.exception_handler(ActionError)
    def _refused(_request: Request, err: ActionError) -> JSONResponse:
        body = Problem(detail=err.message, detail_zh=err.message_zh)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own body quotes the input back; a case's fields may be personal data.
        errors = [
            FieldError(path=".".join(str(p) for p in e.get("loc", ())) or "body", problem=e["msg"])
            for e in err.errors()
        ]
        names = ", ".join(dict.fromkeys(e.path for e in errors))
        body = Problem(
            detail=f"invalid request: {names}",
            detail_zh=f"请求无效：{names}",
            errors=errors,
        )
        return JSONResponse(body.model_dump(exclude_none=True), status_code=422)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["ops"],
        responses={503: {"model": Health, "description": "Not ready, with the reason"}},
    )
    def readyz() -> Any:
        """Ready when the case store answers and the publisher reaches the broker."""
        try:
            store.ping()
        except Exception as err:  # noqa: BLE001 - any failure means "not ready", said why
            reason = f"the case store does not answer ({type(err).__name__})"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        why = publisher.ready()
        if why is not None:
            return JSONResponse({"status": "unavailable", "reason": why}, status_code=503)
        return {"status": "ok"}

    @app.get("/cases", response_model=CaseList, responses={401: _ERRORS[401], **_INVALID})
    def list_cases(
        committee_id: Committee,
        status_: Annotated[StatusName | None, Query(alias="status")] = None,
        kind: CaseKind | None = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        street: Annotated[str | None, Query(max_length=64)] = None,
        assignee: Annotated[
            str | None, Query(max_length=200, description="Only the cases assigned to this id")
        ] = None,
        unassigned: Annotated[bool, Query(description="Only the cases nobody has")] = False,
        overdue: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The committee's cases, soonest deadline first."""
        now = clock()
        q = CaseQuery(
            status=status_,
            kind=kind,
            category=category,
            overdue=overdue,
            limit=limit,
            offset=offset,
            street=street,
            assignee=assignee,
            unassigned=unassigned,
        )
        page = store.list_cases([committee_id], q, now)
        return {
            "items": [summary(c, now) for c in page.items],
            "total": page.total,
            "limit": limit,
            "offset": offset,
        }

    @app.get("/cases/{case_id:path}", response_model=CaseDetail, responses=_ERRORS)
    def get_case(case_id: str, committee_id: Committee) -> dict[str, Any]:
        """One case with its routing explanation, history and deadlines."""
        c = service.own_case(case_id, [committee_id])
        now = clock()
        return {
            **summary(c, now),
            "version": c.state.version,
            "routing": {
                "committee_type": c.committee_type,
                "tier": c.tier,
                "rule_id": c.rule_id,
                "ruleset_version": c.ruleset_version,
                "reasons": c.reasons,
                "rejected": c.rejected,
                "explanation": c.explanation,
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
            "reports": [_report(r) for r in store.reports_for_case(case_id)],
        }

    @app.post(
        "/cases/{case_id:path}/accept",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def accept(
        case_id: str,
        committee_id: Committee,
        body: Annotated[AcceptBody | None, Body()] = None,
    ) -> ActionAccepted:
        """Accept a new case. The body (with the version you saw) is optional."""
        version = None if body is None else body.version
        return service.accept(case_id, committees=[committee_id], actor=None, version=version)

    @app.post(
        "/cases/{case_id:path}/assign",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def assign(case_id: str, body: AssignBody, committee_id: Committee) -> ActionAccepted:
        """Assign an open case to a mediator's account (a reassignment replaces)."""
        return service.assign(
            case_id,
            committees=[committee_id],
            actor=None,
            mediator_id=body.mediator_id,
            version=body.version,
        )

    @app.post(
        "/cases/{case_id:path}/transfer",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def transfer(case_id: str, body: TransferBody, committee_id: Committee) -> ActionAccepted:
        """Hand an open case to another committee of the catalogue, with a reason."""
        return service.transfer(
            case_id,
            committees=[committee_id],
            actor=None,
            to_committee_id=body.to_committee_id,
            reason=body.reason,
            version=body.version,
        )

    @app.post(
        "/cases/{case_id:path}/conclude",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def conclude(case_id: str, body: ConcludeBody, committee_id: Committee) -> ActionAccepted:
        """Conclude an accepted case with its outcome (and the agreed amount)."""
        return service.conclude(
            case_id,
            committees=[committee_id],
            actor=None,
            outcome=body.outcome,
            agreed_amount_yuan=body.agreed_amount_yuan,
            version=body.version,
        )

    @app.post(
        "/cases/{case_id:path}/unlink",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def unlink(case_id: str, body: UnlinkBody, committee_id: Committee) -> ActionAccepted:
        """Not the same matter: a report linked to this open case leaves it and is routed as a
        case of its own. 409 when the report is not (or no longer) linked to the case."""
        return service.unlink(
            case_id,
            committees=[committee_id],
            actor=None,
            report_id=body.report_id,
            reason=body.reason,
            version=body.version,
        )

    @app.post(
        "/cases/{case_id:path}/link",
        status_code=status.HTTP_202_ACCEPTED,
        responses=_ACTION_ERRORS,
    )
    def link(case_id: str, body: LinkBody, committee_id: Committee) -> ActionAccepted:
        """Link another open case of your committee to this one by hand: its later reports
        join this case too, and both keep their histories."""
        return service.link(
            case_id,
            committees=[committee_id],
            actor=None,
            other_case_id=body.other_case_id,
            reason=body.reason,
            version=body.version,
        )

    return app


def _hist(h: Any) -> dict[str, Any]:
    return {
        "event_id": h.event_id,
        "type": h.type,
        "time": h.time,
        "committee_id": h.committee_id,
        "actor": h.actor,
        "data": h.data,
        "applied": h.applied,
        "note": h.note,
    }


def _report(r: ReportRecord) -> dict[str, Any]:
    return {
        "report_id": r.report_id,
        "case_id": r.case_id,
        "kind": r.kind,
        "source": r.source,
        "channel": r.channel,
        "time": r.time,
        "street": r.street,
        "community": r.community,
        "data": r.data,
    }
