"""The actions on a case (accept, assign, transfer, conclude): the one service the inbox API and
the mediator workbench both call.

It checks what can be checked at request time (the caller's committees own the case, the
version the person saw is current, the target committee exists, the state allows the action),
then publishes the lifecycle event and returns once the broker has acknowledged it. The sink
checks again when it applies the event, since the case may change between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from consumers import casefile
from consumers.lifecycle import LifecyclePublisher
from consumers.store import CaseRecord, CaseStore
from schemas.envelope import Envelope
from schemas.errors import FengqiaoError, PublishError
from schemas.events import (
    CaseAccepted,
    CaseAssigned,
    CaseConcluded,
    CaseTransferred,
    dump,
)

SOURCE = "fengqiao/inbox"
TOPIC = "cases.lifecycle"
Clock = Callable[[], datetime]
IsMember = Callable[[str, str], bool]


class ActionError(FengqiaoError):
    """An action that was not published, with the HTTP status to answer and a sentence in
    English and in Chinese (for mediators)."""

    def __init__(self, status: int, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.message_zh = message_zh


class ActionRefused(ActionError):
    """The action is not allowed: 403/404 (not the caller's case), 409 (the case's state or
    version does not allow it), 422 (the request names something invalid)."""


class ActionNotAcknowledged(ActionError):
    """The broker did not acknowledge in time (503). The event may still be written; since the
    event id is deterministic, retrying is safe."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "the broker did not acknowledge the action in time; "
            "the action may still be applied; retrying is safe",
            "消息服务未及时确认此操作；操作仍可能生效，可以放心重试",
        )


class ActionAccepted(BaseModel):
    """The lifecycle event was acknowledged by the broker; the store follows shortly."""

    event_id: str
    type: str
    case_id: str
    topic: str = TOPIC


# Built per raise (not shared instances): a raised exception keeps its traceback and context.
def _no_case() -> ActionRefused:
    return ActionRefused(404, "no such case", "没有这个案件")


def _other_committee() -> ActionRefused:
    return ActionRefused(403, "the case belongs to another committee", "该案件属于其他调解委员会")


def _changed() -> ActionRefused:
    return ActionRefused(
        409,
        "the case changed since you opened it; reload it and try again",
        "您打开案件之后，案件已有变化；请刷新后重试",
    )


class CaseActions:
    """Actions on cases for callers that belong to some committees.

    ``committees`` is the catalogue (id -> name, or just the ids): transfers go only there.
    ``is_member(mediator_id, committee_id)`` says whether an account belongs to a committee;
    without it an assignment's mediator is not checked (committee tokens have no accounts)."""

    def __init__(
        self,
        store: CaseStore,
        publisher: LifecyclePublisher,
        committees: Mapping[str, str] | Collection[str],
        clock: Clock,
        is_member: IsMember | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.committees: Mapping[str, str] = (
            dict(committees) if isinstance(committees, Mapping) else {c: c for c in committees}
        )
        self.clock = clock
        self.is_member = is_member

    # --- reads ------------------------------------------------------------------------------

    def own_case(self, case_id: str, committees: Collection[str]) -> CaseRecord:
        """The case, when it belongs to one of ``committees``: else 404 (no such case) or 403
        (another committee's)."""
        case = self.store.get_case(case_id)
        if case is None:
            raise _no_case()
        if case.committee_id not in _as_set(committees):
            raise _other_committee()
        return case

    # --- actions ----------------------------------------------------------------------------

    def accept(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        version: int | None = None,
    ) -> ActionAccepted:
        """Accept a new case."""
        case, v = self._current(case_id, committees, version)
        return self._publish(case, "accept", CaseAccepted, {"actor": actor, "version": v})

    def assign(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        mediator_id: str,
        version: int | None = None,
    ) -> ActionAccepted:
        """Assign an open case to a mediator of its committee (a reassignment replaces)."""
        case, v = self._current(case_id, committees, version)
        if self.is_member is not None and not self.is_member(mediator_id, case.committee_id):
            raise ActionRefused(
                422,
                "mediator_id: the account is not a mediator of the committee that holds the case",
                "该调解员不属于承办此案件的调解委员会",
            )
        fields = {"actor": actor, "version": v, "mediator_id": mediator_id}
        return self._publish(case, "assign", CaseAssigned, fields)

    def transfer(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        to_committee_id: str,
        reason: str,
        version: int | None = None,
    ) -> ActionAccepted:
        """Hand an open case to another committee of the catalogue, with a reason."""
        case, v = self._current(case_id, committees, version)
        if to_committee_id not in self.committees:
            raise ActionRefused(
                422,
                "to_committee_id: there is no such committee in the catalogue",
                "目录中没有这个调解委员会，无法转办",
            )
        if not reason.strip():
            raise ActionRefused(422, "reason: a transfer needs a reason", "转办须填写理由")
        fields = {
            "actor": actor,
            "version": v,
            "to_committee_id": to_committee_id,
            "reason": reason.strip(),
        }
        return self._publish(case, "transfer", CaseTransferred, fields)

    def conclude(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        outcome: str,
        agreed_amount_yuan: Any = None,
        version: int | None = None,
    ) -> ActionAccepted:
        """Conclude an accepted case with its outcome (and, for an agreement, the amount)."""
        case, v = self._current(case_id, committees, version)
        if agreed_amount_yuan is not None and outcome != "agreement":
            raise ActionRefused(
                422,
                "agreed_amount_yuan is only given with outcome 'agreement'",
                "只有达成协议时才填写协议金额",
            )
        fields = {
            "actor": actor,
            "version": v,
            "outcome": outcome,
            "agreed_amount_yuan": agreed_amount_yuan,
        }
        return self._publish(case, "conclude", CaseConcluded, fields)

    # --- the common path --------------------------------------------------------------------

    def _current(
        self, case_id: str, committees: Collection[str], seen: int | None
    ) -> tuple[CaseRecord, int]:
        """The caller's case and the version the action is made against."""
        case = self.own_case(case_id, committees)
        if seen is not None and seen != case.state.version:
            raise _changed()
        return case, case.state.version

    def _publish(
        self,
        case: CaseRecord,
        action: str,
        model: type[BaseModel],
        fields: dict[str, Any],
    ) -> ActionAccepted:
        try:
            payload = model(case_id=case.case_id, committee_id=case.committee_id, **fields)
        except ValidationError as err:
            raise _invalid(err) from None
        data = dump(payload)
        why = casefile.check(case.state, action, data)
        if why is not None:
            raise ActionRefused(why.status, why.message, why.message_zh)
        type_ = casefile.ACTION_TYPES[action]
        event_id = casefile.action_event_id(case.case_id, action, case.state.version)
        env = Envelope.build(
            id=event_id,
            source=SOURCE,
            type=type_,
            time=self.clock(),
            subject=case.case_id,
            data=data,
        )
        try:
            self.publisher.publish(TOPIC, case.case_id, env.model_dump(mode="json"))
        except PublishError as err:
            raise ActionNotAcknowledged() from err
        return ActionAccepted(event_id=event_id, type=type_, case_id=case.case_id)


def _as_set(committees: Collection[str]) -> Collection[str]:
    # A bare string is a Collection[str] too: "abc" would match committee "a".
    return {committees} if isinstance(committees, str) else committees


def _invalid(err: ValidationError) -> ActionRefused:
    """422 naming the fields (never their values)."""
    fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in err.errors()})
    names = ", ".join(fields)
    return ActionRefused(422, f"invalid field(s): {names}", f"以下字段无效：{names}")
