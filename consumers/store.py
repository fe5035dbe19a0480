"""The case store port: records, the ``CaseStore`` protocol, and how an event changes a store.

``apply_batch`` holds the one definition of every effect, written against a small transaction
interface (``Tx``); the SQL store and the in-memory store only implement the primitives, so one
contract test covers both. Every effect claims its event id first; a claim that conflicts means
the event was already applied and nothing else happens.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from consumers import casefile
from consumers.casefile import CaseState
from consumers.links import LINK_TYPES
from consumers.reports import ReportRecord, in_order, is_report, linked_report_ids, report_from

PENDING = "pending: the case is not in the store yet"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from the sink: a validated derived event, or (``reason`` set) a reject."""

    event_id: str
    topic: str  # logical name, no prefix
    partition: int = 0
    offset: int = 0
    type: str | None = None
    time: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    raw: bytes | None = None
    reason: str | None = None
    error_class: str | None = None
    # The sink's reason not to apply a valid lifecycle event (e.g. a transfer to a committee
    # that is not in the catalogue): it is kept in the case history as not applied.
    refused: str | None = None
    source: str | None = None  # the envelope's source (kept for intake reports)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    case_id: str
    kind: str
    street: str
    category: str
    committee_type: str
    tier: str
    rule_id: str
    ruleset_version: str
    reasons: list[str]
    rejected: list[dict[str, Any]]  # {rule_id, reason, ...}: extra keys kept as sent
    deadline: datetime
    routed_at: datetime
    routed_event_id: str
    state: CaseState
    # The routing decision's reasons as codes with parameters ({"reasons": [...], "rejected":
    # [...]}), so pages can render them in Chinese or English; None on older events.
    explanation: dict[str, Any] | None = None

    @property
    def committee_id(self) -> str:
        return self.state.committee_id

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def assignee(self) -> str | None:
        return self.state.assignee


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event_id: str
    case_id: str
    type: str
    time: datetime
    committee_id: str | None
    data: dict[str, Any]
    applied: bool
    note: str | None = None

    @property
    def actor(self) -> str | None:
        """The account that made a lifecycle event (an id), when it names one."""
        actor = self.data.get("actor")
        return actor if isinstance(actor, str) else None


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    event_id: str
    origin: str  # "intake": from intake.deadletter; "sink": rejected by the sink itself
    source_topic: str
    partition: int
    offset: int
    reason: str
    error_class: str
    original_b64: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """Filters of an inbox (all optional, combined with AND); results are soonest deadline
    first."""

    status: str | None = None
    kind: str | None = None
    category: str | None = None
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0
    street: str | None = None
    assignee: str | None = None  # the cases assigned to this account
    unassigned: bool = False  # only the cases nobody is assigned to


@dataclass(frozen=True, slots=True)
class CasePage:
    items: list[CaseRecord]
    total: int


@dataclass(frozen=True, slots=True)
class ApplyResult:
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0


class Tx(Protocol):
    """The primitives one transaction offers to :func:`apply_batch`. The bulk ones exist so a
    batch of routed cases costs a few round trips, not a few per case."""

    def claim_many(self, ids: list[tuple[str, str]]) -> set[str]: ...
    def insert_cases(self, recs: list[CaseRecord]) -> set[str]: ...
    def add_histories(self, entries: list[HistoryEntry]) -> None: ...
    def pending_history(self, case_ids: list[str]) -> list[HistoryEntry]: ...
    def case_state(self, case_id: str) -> CaseState | None: ...
    def save_state(self, state: CaseState) -> None: ...
    def mark_history(self, event_id: str, applied: bool, note: str | None) -> None: ...
    def upsert_incident(self, row: dict[str, Any]) -> None: ...
    def insert_escalation(self, row: dict[str, Any]) -> None: ...
    def insert_sla_alert(self, row: dict[str, Any]) -> None: ...
    def insert_dead_letter(self, rec: DeadLetterRecord) -> None: ...
    def insert_reports(self, recs: list[ReportRecord]) -> None: ...


class CaseStore(Protocol):
    """What the sink and the inbox API need from a store."""

    def apply(self, batch: Sequence[Incoming]) -> ApplyResult: ...
    def get_case(self, case_id: str) -> CaseRecord | None: ...
    def list_cases(
        self, committees: str | Collection[str], query: CaseQuery, now: datetime
    ) -> CasePage:
        """The cases of one committee or of several (a person may belong to several)."""
        ...

    def history(self, case_id: str) -> list[HistoryEntry]: ...
    def reports_for_case(self, case_id: str) -> list[ReportRecord]:
        """The reports of a case, oldest first: those that open it, and those its history
        links to it. Personal data: for the owning committee only."""
        ...

    def sla_alerts(self, case_id: str) -> list[dict[str, Any]]: ...
    def incidents(self) -> list[dict[str, Any]]: ...
    def escalations(self) -> list[dict[str, Any]]: ...
    def dead_letters(self) -> list[DeadLetterRecord]: ...
    def event_ids(self) -> set[str]: ...
    def add_token(self, committee_id: str, token_hash: str, label: str | None) -> None: ...
    def committee_for_token(self, token_hash: str) -> str | None: ...
    def list_tokens(self) -> list[TokenInfo]: ...
    def revoke_token(self, token_id: str) -> TokenInfo | None:
        """Delete the token whose id starts with ``token_id``; None when there is none.
        ValueError when the id is malformed or names several tokens."""
        ...

    def ping(self) -> None:
        """Return when the store answers; raise when it does not (readiness checks)."""
        ...

    def close(self) -> None: ...


# --- the effects ----------------------------------------------------------------------------


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    return f"sink-deadletter:{topic}:{partition}:{offset}"


def apply_batch(tx: Tx, batch: Sequence[Incoming]) -> ApplyResult:
    """Apply messages in order inside ``tx``. Every event id is claimed first (one statement);
    an id already there, or repeated in the batch, is a duplicate and has no effect.

    Intake reports depend on nothing else in the batch, so they are written together at the
    end (one statement), and they do not break a run of routed cases."""
    claimed = tx.claim_many([(i.event_id, i.topic) for i in batch])
    applied = duplicates = dead = 0
    seen: set[str] = set()
    routed_run: list[Incoming] = []
    reports: list[ReportRecord] = []
    for item in batch:
        if item.event_id not in claimed or item.event_id in seen:
            duplicates += 1
            continue
        seen.add(item.event_id)
        if is_report(item):
            reports.append(report_from(item))
            applied += 1
            continue
        if item.reason is None and item.type == "case.routed.v1":
            routed_run.append(item)  # consecutive routed cases are written together
            applied += 1
            continue
        _routed(tx, routed_run)
        routed_run = []
        if item.reason is not None:
            _reject(tx, item)
            dead += 1
        else:
            _effect(tx, item)
            applied += 1
    _routed(tx, routed_run)
    if reports:
        tx.insert_reports(reports)
    return ApplyResult(applied, duplicates, dead)


def _reject(tx: Tx, item: Incoming) -> None:
    import base64

    tx.insert_dead_letter(
        DeadLetterRecord(
            event_id=item.event_id,
            origin="sink",
            source_topic=item.topic,
            partition=item.partition,
            offset=item.offset,
            reason=item.reason or "rejected",
            error_class=item.error_class or "other",
            original_b64=base64.b64encode(item.raw or b"").decode(),
            received_at=datetime.now(UTC),
        )
    )


def _effect(tx: Tx, item: Incoming) -> None:
    assert item.type is not None and item.time is not None
    d, t = item.data, item.type
    if t in casefile.TYPE_ACTIONS:
        _lifecycle(tx, item)
    elif t == "incident.detected.v1":
        tx.upsert_incident(
            {
                "incident_id": d["incident_id"],
                "rule_id": d["rule_id"],
                "key": d["key"],
                "window_start": _dt(d["window_start"]),
                "window_end": _dt(d["window_end"]),
                "case_ids": list(d["case_ids"]),
                "people": int(d["people"]),
                "amount_yuan": str(d["amount_yuan"]),
                "event_id": item.event_id,
                "time": item.time,
            }
        )
    elif t == "escalation.raised.v1":
        tx.insert_escalation(
            {
                "escalation_id": d["escalation_id"],
                "level": d["level"],
                "to_committee_id": d["to_committee_id"],
                "reason": d["reason"],
                "incident_id": d.get("incident_id"),
                "case_id": d.get("case_id"),
                "event_id": item.event_id,
                "time": item.time,
            }
        )
    elif t in ("sla.warning.v1", "sla.breached.v1"):
        tx.insert_sla_alert(
            {
                "event_id": item.event_id,
                "type": t,
                "case_id": d["case_id"],
                "committee_id": d["committee_id"],
                "clock": d["clock"],
                "due": _dt(d["due"]),
                "time": item.time,
            }
        )
    elif t == "deadletter.v1":
        tx.insert_dead_letter(
            DeadLetterRecord(
                event_id=item.event_id,
                origin="intake",
                source_topic=d["source_topic"],
                partition=int(d["partition"]),
                offset=int(d["offset"]),
                reason=d["reason"],
                error_class=d["error_class"],
                original_b64=d["original_b64"],
                received_at=_dt(d["received_at"]),
            )
        )
    elif t in LINK_TYPES:
        # a report that joined the case (or left it): the case keeps every report in its history
        entry = HistoryEntry(item.event_id, d["case_id"], t, item.time, None, d, True)
        tx.add_histories([entry])
    else:  # the sink only hands over the types above
        raise ValueError(f"no effect defined for {t}")


def _routed(tx: Tx, items: list[Incoming]) -> None:
    if not items:
        return
    recs: list[CaseRecord] = []
    for item in items:
        d = item.data
        assert item.time is not None
        recs.append(
            CaseRecord(
                case_id=d["case_id"],
                kind=d["kind"],
                street=d["street"],
                category=d["category"],
                committee_type=d["committee_type"],
                tier=d["tier"],
                rule_id=d["rule_id"],
                ruleset_version=d["ruleset_version"],
                reasons=list(d["reasons"]),
                rejected=[dict(r) for r in d["rejected"]],
                deadline=_dt(d["deadline"]),
                routed_at=item.time,
                routed_event_id=item.event_id,
                state=CaseState(case_id=d["case_id"], committee_id=d["committee_id"]),
                explanation=_explanation(d.get("explanation")),
            )
        )
    first: dict[str, CaseRecord] = {}
    for rec in recs:
        first.setdefault(rec.case_id, rec)
    inserted = tx.insert_cases(list(first.values()))
    entries = []
    for item, rec in zip(items, recs, strict=True):
        ok = rec.case_id in inserted and first[rec.case_id] is rec
        entries.append(
            HistoryEntry(
                event_id=item.event_id,
                case_id=rec.case_id,
                type="case.routed.v1",
                time=rec.routed_at,
                committee_id=rec.committee_id,
                data=item.data,
                applied=ok,
                note=None if ok else "the case was already routed; the first routing stands",
            )
        )
    tx.add_histories(entries)
    if not inserted:
        return
    # Lifecycle events that overtook the routing (another topic) are applied now, in time order.
    pending: dict[str, list[HistoryEntry]] = {}
    for entry in tx.pending_history(sorted(inserted)):
        pending.setdefault(entry.case_id, []).append(entry)
    for case_id, waiting in pending.items():
        state = start = first[case_id].state
        for entry in sorted(waiting, key=lambda e: e.time):
            try:
                state = casefile.apply(state, entry.type, entry.data, entry.time)
                tx.mark_history(entry.event_id, True, None)
            except ValueError as err:
                tx.mark_history(entry.event_id, False, str(err))
        if state != start:
            tx.save_state(state)


def _explanation(value: Any) -> dict[str, Any] | None:
    # Kept as sent; anything but an object is not an explanation (a producer bug), so nothing.
    return dict(value) if isinstance(value, dict) else None


def _lifecycle(tx: Tx, item: Incoming) -> None:
    d = item.data
    assert item.type is not None and item.time is not None
    state = tx.case_state(d["case_id"])
    applied: bool = False
    note: str | None = PENDING
    if item.refused is not None:
        note = item.refused
    elif state is not None:
        try:
            new = casefile.apply(state, item.type, d, item.time)
            tx.save_state(new)
            applied, note = True, None
        except ValueError as err:
            note = str(err)
    tx.add_histories(
        [
            HistoryEntry(
                event_id=item.event_id,
                case_id=d["case_id"],
                type=item.type,
                time=item.time,
                committee_id=d.get("committee_id"),
                data=d,
                applied=applied,
                note=note,
            )
        ]
    )


# --- the in-memory store --------------------------------------------------------------------


TOKEN_ID_LENGTH = 12


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token, only the start of its hash as an id."""

    token_id: str
    committee_id: str
    label: str | None
    created_at: datetime


def token_id_of(token_hash: str) -> str:
    return token_hash[:TOKEN_ID_LENGTH]


def check_token_id(token_id: str) -> str:
    """The id as given, stripped; at least 6 hex characters, so one id names one token."""
    token_id = token_id.strip().lower()
    if len(token_id) < 6 or any(c not in "0123456789abcdef" for c in token_id):
        raise ValueError("a token id is the 6-12 hex characters `fengqiao tokens list` shows")
    return token_id


T = TypeVar("T")


def only_token(matches: Sequence[T], token_id: str) -> T | None:
    """The one token an id names, None for none; ValueError when it names several."""
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} tokens start with {token_id}: give more characters")
    return matches[0] if matches else None


@dataclass
class _Mem:
    processed: dict[str, str] = field(default_factory=dict)
    cases: dict[str, CaseRecord] = field(default_factory=dict)
    history: dict[str, HistoryEntry] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalations: dict[str, dict[str, Any]] = field(default_factory=dict)
    sla: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead: dict[str, DeadLetterRecord] = field(default_factory=dict)
    reports: dict[str, ReportRecord] = field(default_factory=dict)
    tokens: dict[str, TokenInfo] = field(default_factory=dict)


class _MemTx:
    def __init__(self, m: _Mem) -> None:
        self.m = m

    def claim_many(self, ids: list[tuple[str, str]]) -> set[str]:
        new = set()
        for event_id, topic in ids:
            if event_id not in self.m.processed:
                self.m.processed[event_id] = topic
                new.add(event_id)
        return new

    def case_state(self, case_id: str) -> CaseState | None:
        rec = self.m.cases.get(case_id)
        return None if rec is None else rec.state

    def insert_cases(self, recs: list[CaseRecord]) -> set[str]:
        new = set()
        for rec in recs:
            if rec.case_id not in self.m.cases:
                self.m.cases[rec.case_id] = rec
                new.add(rec.case_id)
        return new

    def save_state(self, state: CaseState) -> None:
        self.m.cases[state.case_id] = replace(self.m.cases[state.case_id], state=state)

    def add_histories(self, entries: list[HistoryEntry]) -> None:
        for entry in entries:
            self.m.history[entry.event_id] = entry

    def pending_history(self, case_ids: list[str]) -> list[HistoryEntry]:
        ids = set(case_ids)
        return [e for e in self.m.history.values() if e.case_id in ids and e.note == PENDING]

    def mark_history(self, event_id: str, applied: bool, note: str | None) -> None:
        self.m.history[event_id] = replace(self.m.history[event_id], applied=applied, note=note)

    def upsert_incident(self, row: dict[str, Any]) -> None:
        old = self.m.incidents.get(row["incident_id"])
        if old is None or old["time"] <= row["time"]:
            self.m.incidents[row["incident_id"]] = dict(row)

    def insert_escalation(self, row: dict[str, Any]) -> None:
        self.m.escalations.setdefault(row["escalation_id"], dict(row))

    def insert_sla_alert(self, row: dict[str, Any]) -> None:
        self.m.sla[row["event_id"]] = dict(row)

    def insert_dead_letter(self, rec: DeadLetterRecord) -> None:
        self.m.dead[rec.event_id] = rec

    def insert_reports(self, recs: list[ReportRecord]) -> None:
        for rec in recs:
            self.m.reports.setdefault(rec.report_id, rec)


def committee_set(committees: str | Collection[str]) -> set[str]:
    """One committee id or several, as a set (a bare string is one id, not its letters)."""
    return {committees} if isinstance(committees, str) else set(committees)


def filter_and_page(cases: list[CaseRecord], query: CaseQuery, now: datetime) -> CasePage:
    def keep(c: CaseRecord) -> bool:
        if query.status is not None and c.status != query.status:
            return False
        if query.street is not None and c.street != query.street:
            return False
        if query.assignee is not None and c.assignee != query.assignee:
            return False
        if query.unassigned and c.assignee is not None:
            return False
        if query.kind is not None and c.kind != query.kind:
            return False
        if query.category is not None and c.category != query.category:
            return False
        return query.overdue is None or (
            casefile.is_overdue(c.status, c.deadline, now) == query.overdue
        )

    hits = sorted((c for c in cases if keep(c)), key=lambda c: (c.deadline, c.case_id))
    return CasePage(hits[query.offset : query.offset + query.limit], len(hits))


class MemoryStore:
    """The store in a few dicts: for unit tests and the contract test's reference."""

    def __init__(self) -> None:
        self._m = _Mem()

    @contextmanager
    def _tx(self) -> Iterator[_MemTx]:
        snapshot = copy.deepcopy(self._m)
        try:
            yield _MemTx(self._m)
        except BaseException:
            self._m = snapshot
            raise

    def apply(self, batch: Sequence[Incoming]) -> ApplyResult:
        with self._tx() as tx:
            return apply_batch(tx, batch)

    def get_case(self, case_id: str) -> CaseRecord | None:
        return self._m.cases.get(case_id)

    def list_cases(
        self, committees: str | Collection[str], query: CaseQuery, now: datetime
    ) -> CasePage:
        ids = committee_set(committees)
        mine = [c for c in self._m.cases.values() if c.committee_id in ids]
        return filter_and_page(mine, query, now)

    def history(self, case_id: str) -> list[HistoryEntry]:
        return [e for e in self._m.history.values() if e.case_id == case_id]  # arrival order

    def reports_for_case(self, case_id: str) -> list[ReportRecord]:
        own = {r.report_id: r for r in self._m.reports.values() if r.case_id == case_id}
        for rid in linked_report_ids(self.history(case_id)):
            if rid in self._m.reports:
                own.setdefault(rid, self._m.reports[rid])
        return in_order(own.values())

    def sla_alerts(self, case_id: str) -> list[dict[str, Any]]:
        rows = [r for r in self._m.sla.values() if r["case_id"] == case_id]
        return sorted(rows, key=lambda r: (r["time"], r["event_id"]))

    def incidents(self) -> list[dict[str, Any]]:
        return sorted(self._m.incidents.values(), key=lambda r: r["incident_id"])

    def escalations(self) -> list[dict[str, Any]]:
        return sorted(self._m.escalations.values(), key=lambda r: r["escalation_id"])

    def dead_letters(self) -> list[DeadLetterRecord]:
        return sorted(self._m.dead.values(), key=lambda r: r.event_id)

    def event_ids(self) -> set[str]:
        return set(self._m.processed)

    def add_token(self, committee_id: str, token_hash: str, label: str | None) -> None:
        self._m.tokens[token_hash] = TokenInfo(
            token_id_of(token_hash), committee_id, label, datetime.now(UTC)
        )

    def committee_for_token(self, token_hash: str) -> str | None:
        info = self._m.tokens.get(token_hash)
        return info.committee_id if info else None

    def list_tokens(self) -> list[TokenInfo]:
        return sorted(self._m.tokens.values(), key=lambda i: (i.committee_id, i.created_at))

    def revoke_token(self, token_id: str) -> TokenInfo | None:
        token_id = check_token_id(token_id)
        found = only_token([h for h in self._m.tokens if h.startswith(token_id)], token_id)
        return self._m.tokens.pop(found) if found else None

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass
