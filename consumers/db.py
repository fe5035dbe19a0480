"""The SQL case store (SQLAlchemy 2 Core): SQLite by default, PostgreSQL by URL.

``upgrade`` applies the Alembic migrations shipped in ``consumers/migrations``; the sink and
the API call it on start. ``SqlStore.apply`` runs a whole batch in one transaction: each
event id is inserted into ``processed_events`` with ON CONFLICT DO NOTHING, and a conflict
means the event was already applied, so the effect is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from consumers import tables as t
from consumers.casefile import OPEN_STATUSES, CaseState
from consumers.jsontext import dumps
from consumers.reports import LINKED, UNLINKED, ReportRecord, in_order, linked_report_ids
from consumers.store import (
    PENDING,
    ApplyResult,
    CasePage,
    CaseQuery,
    CaseRecord,
    DeadLetterRecord,
    HistoryEntry,
    Incoming,
    TokenInfo,
    apply_batch,
    check_token_id,
    committee_set,
    only_token,
    token_id_of,
)
from schemas.errors import FengqiaoError

log = logging.getLogger("fengqiao.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x46515F4442  # pg advisory lock id: "FQ_DB"


class StoreError(FengqiaoError):
    """The case store cannot be used (bad URL, migration failure)."""


def make_engine(url: str) -> Engine:
    """An engine with sensible settings per backend (SQLite: WAL, busy timeout)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30}, hide_parameters=True, json_serializer=dumps
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # hide_parameters: error messages (and so logs) never quote the case data
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        connect_args={"connect_timeout": 5},
        hide_parameters=True,
        json_serializer=dumps,
    )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start at once."""
    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)  # per-plugin INFO lines are noise
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            return
        except OperationalError as err:
            # Another process migrating the same SQLite file at the same moment.
            if attempt == 2:
                raise StoreError(f"database migration failed: {err.orig}") from err
            time.sleep(0.5 * (attempt + 1))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_unavailable(err: BaseException) -> bool:
    """True when the database cannot be reached (retry), not when a statement is wrong."""
    if isinstance(err, OperationalError):
        return True
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


class _Statements:
    """Statements built once per dialect and executed with parameters: building them per event
    (``.values(...)``) cost more than the database work."""

    def __init__(self, dialect: str) -> None:
        if dialect == "postgresql":
            ins: Any = postgresql.insert
        elif dialect == "sqlite":
            ins = sqlite.insert
        else:
            raise StoreError(f"unsupported database: {dialect}")

        def ignore(table: Any, key: str) -> Any:
            return ins(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])

        self.claim = ignore(t.processed_events, "event_id")
        self.insert_case = ignore(t.cases, "case_id")
        self.insert_escalation = ignore(t.escalations, "escalation_id")
        self.insert_sla = ignore(t.sla_alerts, "event_id")
        self.insert_dead = ignore(t.dead_letters, "event_id")
        # No RETURNING: the batch does not need to know which reports were new.
        self.insert_reports = ins(t.reports).on_conflict_do_nothing(index_elements=["report_id"])
        self.insert_history = t.case_history.insert()
        c, h = t.cases.c, t.case_history.c
        self.case_state = select(t.cases).where(c.case_id == bindparam("k"))
        self.save_state = update(t.cases).where(c.case_id == bindparam("k"))
        self.pending = select(t.case_history).where(
            and_(h.case_id.in_(bindparam("ks", expanding=True)), h.note == PENDING)
        )
        self.mark = update(t.case_history).where(h.event_id == bindparam("k"))
        up = ins(t.incidents)
        self.upsert_incident = up.on_conflict_do_update(
            index_elements=["incident_id"],
            set_={
                col.name: up.excluded[col.name]
                for col in t.incidents.c
                if col.name != "incident_id"
            },
            # Later events of the same incident replace it; an older replayed one does not.
            where=t.incidents.c.time <= up.excluded.time,
        )


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    if dialect not in _STATEMENTS:
        _STATEMENTS[dialect] = _Statements(dialect)
    return _STATEMENTS[dialect]


class _SqlTx:
    def __init__(self, conn: Connection) -> None:
        self.c = conn
        self.q = _statements(conn.dialect.name)

    def _ignore(self, stmt: Any, values: dict[str, Any]) -> bool:
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT .. ON CONFLICT here.
        return self.c.execute(stmt, values).first() is not None

    def _ignore_many(self, stmt: Any, rows: list[dict[str, Any]]) -> set[str]:
        # executemany with RETURNING (SQLAlchemy's "insertmanyvalues": a few multi-row
        # statements); RETURNING names the rows inserted, a conflict returns nothing.
        if not rows:
            return set()
        return {r[0] for r in self.c.execute(stmt, rows)}

    def claim_many(self, ids: list[tuple[str, str]]) -> set[str]:
        now = datetime.now(UTC)
        rows = [{"event_id": e, "topic": topic, "processed_at": now} for e, topic in ids]
        return self._ignore_many(self.q.claim, rows)

    def case_state(self, case_id: str) -> CaseState | None:
        r = self.c.execute(self.q.case_state, {"k": case_id}).mappings().first()
        return None if r is None else _state(r)

    def insert_cases(self, recs: list[CaseRecord]) -> set[str]:
        return self._ignore_many(
            self.q.insert_case,
            [
                {
                    "case_id": rec.case_id,
                    "kind": rec.kind,
                    "street": rec.street,
                    "category": rec.category,
                    "committee_type": rec.committee_type,
                    "tier": rec.tier,
                    "rule_id": rec.rule_id,
                    "ruleset_version": rec.ruleset_version,
                    "reasons": rec.reasons,
                    "rejected": rec.rejected,
                    "deadline": rec.deadline,
                    "routed_at": rec.routed_at,
                    "routed_event_id": rec.routed_event_id,
                    "explanation": rec.explanation,
                    **_state_cols(rec.state),
                }
                for rec in recs
            ],
        )

    def save_state(self, state: CaseState) -> None:
        self.c.execute(self.q.save_state.values(**_state_cols(state)), {"k": state.case_id})

    def add_histories(self, entries: list[HistoryEntry]) -> None:
        if not entries:
            return
        self.c.execute(
            self.q.insert_history,
            [
                {
                    "event_id": e.event_id,
                    "case_id": e.case_id,
                    "type": e.type,
                    "time": e.time,
                    "committee_id": e.committee_id,
                    "data": e.data,
                    "applied": e.applied,
                    "note": e.note,
                }
                for e in entries
            ],
        )

    def pending_history(self, case_ids: list[str]) -> list[HistoryEntry]:
        rows = self.c.execute(self.q.pending, {"ks": case_ids}).mappings()
        return [_history(r) for r in rows]

    def mark_history(self, event_id: str, applied: bool, note: str | None) -> None:
        self.c.execute(self.q.mark.values(applied=applied, note=note), {"k": event_id})

    def upsert_incident(self, row: dict[str, Any]) -> None:
        self.c.execute(self.q.upsert_incident, row)

    def insert_escalation(self, row: dict[str, Any]) -> None:
        self._ignore(self.q.insert_escalation, row)

    def insert_sla_alert(self, row: dict[str, Any]) -> None:
        self._ignore(self.q.insert_sla, row)

    def insert_reports(self, recs: list[ReportRecord]) -> None:
        if not recs:
            return
        self.c.execute(
            self.q.insert_reports,
            [
                {
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
                for r in recs
            ],
        )

    def insert_dead_letter(self, rec: DeadLetterRecord) -> None:
        self._ignore(
            self.q.insert_dead,
            {
                "event_id": rec.event_id,
                "origin": rec.origin,
                "source_topic": rec.source_topic,
                "partition": rec.partition,
                "offset": rec.offset,
                "reason": rec.reason,
                "error_class": rec.error_class,
                "original_b64": rec.original_b64,
                "received_at": rec.received_at,
            },
        )


def _state_cols(s: CaseState) -> dict[str, Any]:
    return {
        "committee_id": s.committee_id,
        "status": s.status,
        "version": s.version,
        "outcome": s.outcome,
        "agreed_amount_yuan": s.agreed_amount_yuan,
        "accepted_at": s.accepted_at,
        "concluded_at": s.concluded_at,
        "closed_at": s.closed_at,
        "assignee": s.assignee,
    }


def _state(r: Any) -> CaseState:
    return CaseState(
        case_id=r["case_id"],
        committee_id=r["committee_id"],
        status=r["status"],
        version=r["version"],
        outcome=r["outcome"],
        agreed_amount_yuan=r["agreed_amount_yuan"],
        accepted_at=r["accepted_at"],
        concluded_at=r["concluded_at"],
        closed_at=r["closed_at"],
        assignee=r["assignee"],
    )


def _record(r: Any) -> CaseRecord:
    return CaseRecord(
        case_id=r["case_id"],
        kind=r["kind"],
        street=r["street"],
        category=r["category"],
        committee_type=r["committee_type"],
        tier=r["tier"],
        rule_id=r["rule_id"],
        ruleset_version=r["ruleset_version"],
        reasons=list(r["reasons"]),
        rejected=list(r["rejected"]),
        deadline=r["deadline"],
        routed_at=r["routed_at"],
        routed_event_id=r["routed_event_id"],
        state=_state(r),
        explanation=None if r["explanation"] is None else dict(r["explanation"]),
    )


def _history(r: Any) -> HistoryEntry:
    return HistoryEntry(
        event_id=r["event_id"],
        case_id=r["case_id"],
        type=r["type"],
        time=r["time"],
        committee_id=r["committee_id"],
        data=dict(r["data"]),
        applied=bool(r["applied"]),
        note=r["note"],
    )


def _report(r: Any) -> ReportRecord:
    return ReportRecord(
        report_id=r["report_id"],
        case_id=r["case_id"],
        kind=r["kind"],
        source=r["source"],
        channel=r["channel"],
        time=r["time"],
        street=r["street"],
        community=r["community"],
        data=dict(r["data"]),
    )


class SqlStore:
    """The case store on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> SqlStore:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        return cls(engine)

    def apply(self, batch: Sequence[Incoming]) -> ApplyResult:
        with self.engine.begin() as conn:
            return apply_batch(_SqlTx(conn), batch)

    def get_case(self, case_id: str) -> CaseRecord | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.cases).where(t.cases.c.case_id == case_id)).mappings()
            row = r.first()
        return None if row is None else _record(row)

    def list_cases(
        self, committees: str | Collection[str], query: CaseQuery, now: datetime
    ) -> CasePage:
        c = t.cases.c
        where: list[ColumnElement[bool]] = [c.committee_id.in_(sorted(committee_set(committees)))]
        if query.status is not None:
            where.append(c.status == query.status)
        if query.street is not None:
            where.append(c.street == query.street)
        if query.assignee is not None:
            where.append(c.assignee == query.assignee)
        if query.unassigned:
            where.append(c.assignee.is_(None))
        if query.kind is not None:
            where.append(c.kind == query.kind)
        if query.category is not None:
            where.append(c.category == query.category)
        if query.overdue is not None:
            overdue = and_(c.status.in_(OPEN_STATUSES), c.deadline < now)
            where.append(overdue if query.overdue else ~overdue)
        cond = and_(*where)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.cases).where(cond)).scalar()
            rows = conn.execute(
                select(t.cases)
                .where(cond)
                .order_by(c.deadline, c.case_id)
                .limit(query.limit)
                .offset(query.offset)
            ).mappings()
            items = [_record(r) for r in rows]
        return CasePage(items, int(total or 0))

    def history(self, case_id: str) -> list[HistoryEntry]:
        h = t.case_history
        with self.engine.connect() as conn:
            rows = conn.execute(select(h).where(h.c.case_id == case_id).order_by(h.c.id)).mappings()
            return [_history(r) for r in rows]

    def reports_for_case(self, case_id: str) -> list[ReportRecord]:
        r, h = t.reports, t.case_history
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(r).where(r.c.case_id == case_id)).mappings())
            links = conn.execute(
                select(h)
                .where(and_(h.c.case_id == case_id, h.c.type.in_([LINKED, UNLINKED])))
                .order_by(h.c.id)
            ).mappings()
            have = {row["report_id"] for row in rows}
            wanted = [x for x in linked_report_ids(_history(e) for e in links) if x not in have]
            if wanted:
                rows += conn.execute(select(r).where(r.c.report_id.in_(wanted))).mappings()
        return in_order(_report(row) for row in rows)

    def sla_alerts(self, case_id: str) -> list[dict[str, Any]]:
        s = t.sla_alerts
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s).where(s.c.case_id == case_id).order_by(s.c.time, s.c.event_id)
            ).mappings()
            return [dict(r) for r in rows]

    def _all(self, table: Any, order: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(order)).mappings()]

    def incidents(self) -> list[dict[str, Any]]:
        return self._all(t.incidents, t.incidents.c.incident_id)

    def escalations(self) -> list[dict[str, Any]]:
        return self._all(t.escalations, t.escalations.c.escalation_id)

    def dead_letters(self) -> list[DeadLetterRecord]:
        return [DeadLetterRecord(**r) for r in self._all(t.dead_letters, t.dead_letters.c.event_id)]

    def event_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.processed_events.c.event_id)).scalars())

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(t.metadata.tables[table])).scalar()
        return int(n or 0)

    def add_token(self, committee_id: str, token_hash: str, label: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.api_tokens.insert().values(
                    token_hash=token_hash,
                    committee_id=committee_id,
                    label=label,
                    created_at=datetime.now(UTC),
                )
            )

    def committee_for_token(self, token_hash: str) -> str | None:
        a = t.api_tokens
        with self.engine.connect() as conn:
            r = conn.execute(select(a.c.committee_id).where(a.c.token_hash == token_hash))
            return r.scalar()

    @staticmethod
    def _token_info(row: Any) -> TokenInfo:
        return TokenInfo(token_id_of(row.token_hash), row.committee_id, row.label, row.created_at)

    def list_tokens(self) -> list[TokenInfo]:
        a = t.api_tokens
        with self.engine.connect() as conn:
            rows = conn.execute(select(a).order_by(a.c.committee_id, a.c.created_at))
            return [self._token_info(r) for r in rows]

    def revoke_token(self, token_id: str) -> TokenInfo | None:
        a = t.api_tokens
        token_id = check_token_id(token_id)
        with self.engine.begin() as conn:
            rows = conn.execute(select(a).where(a.c.token_hash.startswith(token_id))).all()
            row = only_token(rows, token_id)
            if row is None:
                return None
            conn.execute(a.delete().where(a.c.token_hash == row.token_hash))
            return self._token_info(row)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["SqlStore", "StoreError", "make_engine", "upgrade", "is_unavailable"]
