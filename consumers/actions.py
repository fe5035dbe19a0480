"""The actions on a case (accept, assign, transfer, conclude, and unlink or link reports of one
matter): the one service the inbox API and the mediator workbench both call.

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
from consumers.reports import linked_report_ids
from consumers.store import CaseRecord, CaseStore
from schemas.envelope import Envelope
from schemas.errors import FengqiaoError, PublishError
from schemas.events import (
    CaseAccepted,
    CaseAssigned,
    CaseConcluded,
    CaseLinked,
    CaseTransferred,
    CaseUnlinked,
    dump,
)

SOURCE = "fengqiao/inbox"
TOPIC = "cases.lifecycle"
UNLINKED = "case.unlinked.v1"
LINKED = "case.linked.v1"
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

    def unlink(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        report_id: str,
        reason: str,
        version: int | None = None,
    ) -> ActionAccepted:
        """ "Not the same matter": a report linked to this open case leaves it; the worker then
        routes it as a case of its own."""
        case, v = self._current(case_id, committees, version)
        _open_or_refuse(case, "unlink")
        reason = _reason(reason, "拆分须填写理由（为什么不是同一事项）")
        history = self.store.history(case.case_id)
        if report_id not in linked_report_ids(history):
            raise ActionRefused(
                409,
                "report_id: the report is not linked to this case (it may be unlinked already)",
                "该报告未关联到此案件（可能已经拆分）",
            )
        channel = next(
            (
                r.channel
                for r in self.store.reports_for_case(case.case_id)
                if r.report_id == report_id
            ),
            None,
        )
        fields = {
            "case_id": case.case_id,
            "report_id": report_id,
            "channel": channel,
            "actor": actor,
            "reason": reason,
            "version": v,
        }
        event_id = _link_event_id(case.case_id, "unlinked", report_id, v, history)
        return self._publish_link(case, UNLINKED, CaseUnlinked, fields, event_id)

    def link(
        self,
        case_id: str,
        *,
        committees: Collection[str],
        actor: str | None,
        other_case_id: str,
        reason: str,
        version: int | None = None,
    ) -> ActionAccepted:
        """Two open cases of the caller's committees are one matter: ``other_case_id`` joins
        this case (its later reports too); both keep their histories."""
        case, v = self._current(case_id, committees, version)
        _open_or_refuse(case, "link")
        reason = _reason(reason, "关联案件须填写理由")
        if other_case_id == case.case_id:
            raise ActionRefused(
                422, "other_case_id: a case cannot be linked to itself", "不能将案件与其自身关联"
            )
        other = self.store.get_case(other_case_id)
        if other is None:
            raise ActionRefused(
                422, "other_case_id: there is no such case", "没有这个案件编号，无法关联"
            )
        if other.committee_id not in _as_set(committees):
            # the worker would link any two open cases; a mediator may join only cases their
            # own committees hold, or another committee's parties would show on this page
            raise ActionRefused(
                403,
                "other_case_id: the other case belongs to another committee",
                "要关联的案件属于其他调解委员会",
            )
        if other.status not in casefile.OPEN_STATUSES:
            raise ActionRefused(
                409,
                "other_case_id: the other case is no longer open; only open cases can be linked",
                "要关联的案件已办结或关闭，只能关联办理中的案件",
            )
        history = self.store.history(case.case_id)
        if other.case_id in linked_report_ids(history):
            raise ActionRefused(
                409, "other_case_id: the case is linked to this one already", "该案件已关联到此案件"
            )
        if case.case_id in linked_report_ids(self.store.history(other.case_id)):
            raise ActionRefused(
                409,
                "other_case_id: this case is linked to the other one already",
                "此案件已关联到要关联的案件",
            )
        first = next(iter(self.store.reports_for_case(other.case_id)), None)
        fields = {
            "case_id": case.case_id,
            "report_id": other.case_id,
            # the channel of the other case's first report; a case whose report the store has
            # not kept is said to have come through the website, the channel of last resort
            "channel": first.channel if first is not None else "web",
            "matched": [],
            "kind": other.kind,
            "reported_at": first.time if first is not None else other.routed_at,
            "actor": actor or SOURCE,
            "reason": reason,
            "version": v,
        }
        event_id = _link_event_id(case.case_id, "linked", other.case_id, v, history)
        return self._publish_link(case, LINKED, CaseLinked, fields, event_id)

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
        return self._send(case, type_, event_id, data)

    def _send(
        self, case: CaseRecord, type_: str, event_id: str, data: dict[str, Any]
    ) -> ActionAccepted:
        """Publish one lifecycle event for ``case`` and wait for the broker's acknowledgement."""
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

    def _publish_link(
        self,
        case: CaseRecord,
        type_: str,
        model: type[BaseModel],
        fields: dict[str, Any],
        event_id: str,
    ) -> ActionAccepted:
        try:
            data = dump(model(**fields))
        except ValidationError as err:
            raise _invalid(err) from None
        return self._send(case, type_, event_id, data)


def _open_or_refuse(case: CaseRecord, action: str) -> None:
    if case.status not in casefile.OPEN_STATUSES:
        zh = casefile.STATUS_ZH.get(case.status, case.status)
        verb, verb_zh = ("unlinked", "拆分报告") if action == "unlink" else ("linked", "关联案件")
        raise ActionRefused(
            409,
            f"the case is {case.status}; only an open case can be {verb}",
            f"案件{zh}，只有办理中的案件可以{verb_zh}",
        )


def _reason(reason: str, message_zh: str) -> str:
    if not reason.strip():
        raise ActionRefused(422, "reason: a reason is required", message_zh)
    return reason.strip()


def _link_event_id(case_id: str, word: str, report_id: str, version: int, history: Any) -> str:
    """Deterministic: submitting again before the store has applied it yields the same event.
    The count of link entries for the report tells a later unlink (after a link by hand
    brought it back) from the first."""
    n = sum(
        1
        for e in history
        if e.type in (LINKED, UNLINKED)
        and isinstance(e.data, dict)
        and e.data.get("report_id") == report_id
    )
    return f"{case_id}/{word}/{report_id}/{version}.{n}"


def _as_set(committees: Collection[str]) -> Collection[str]:
    # A bare string is a Collection[str] too: "abc" would match committee "a".
    return {committees} if isinstance(committees, str) else committees


def _invalid(err: ValidationError) -> ActionRefused:
    """422 naming the fields (never their values)."""
    fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in err.errors()})
    names = ", ".join(fields)
    return ActionRefused(422, f"invalid field(s): {names}", f"以下字段无效：{names}")
