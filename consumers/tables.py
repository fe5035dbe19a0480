"""The case store's tables (SQLAlchemy Core). Alembic migrations create them; this module only
describes them for queries, so the two must change together (a test compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware in and out on every backend (SQLite keeps no zone): stored as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


ID = 200
metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("topic", String(100), nullable=False),
    Column("processed_at", UtcDateTime, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(ID), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("street", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("committee_id", String(ID), nullable=False),
    Column("committee_type", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("rule_id", String(100), nullable=False),
    Column("ruleset_version", String(100), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("rejected", JSON, nullable=False),
    Column("deadline", UtcDateTime, nullable=False),
    Column("routed_at", UtcDateTime, nullable=False),
    Column("routed_event_id", String(ID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("outcome", String(32)),
    Column("agreed_amount_yuan", String(32)),
    Column("accepted_at", UtcDateTime),
    Column("concluded_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("assignee", String(ID)),
    Column("explanation", JSON),
    Index("ix_cases_committee_status", "committee_id", "status"),
    Index("ix_cases_committee_deadline", "committee_id", "deadline"),
    Index("ix_cases_committee_assignee", "committee_id", "assignee"),
)

case_history = Table(
    "case_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # arrival order
    Column("event_id", String(ID), nullable=False),
    Column("case_id", String(ID), nullable=False, index=True),
    Column("type", String(100), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("committee_id", String(ID)),
    Column("data", JSON, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("note", Text),
    UniqueConstraint("event_id", name="uq_case_history_event_id"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(ID), primary_key=True),
    Column("rule_id", String(100), nullable=False),
    Column("key", String(400), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("case_ids", JSON, nullable=False),
    Column("people", Integer, nullable=False),
    Column("amount_yuan", String(32), nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("time", UtcDateTime, nullable=False),
)

escalations = Table(
    "escalations",
    metadata,
    Column("escalation_id", String(ID), primary_key=True),
    Column("level", String(16), nullable=False),
    Column("to_committee_id", String(ID), nullable=False),
    Column("reason", Text, nullable=False),
    Column("incident_id", String(ID)),
    Column("case_id", String(ID)),
    Column("event_id", String(ID), nullable=False),
    Column("time", UtcDateTime, nullable=False),
)

sla_alerts = Table(
    "sla_alerts",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("case_id", String(ID), nullable=False, index=True),
    Column("committee_id", String(ID), nullable=False),
    Column("clock", String(16), nullable=False),
    Column("due", UtcDateTime, nullable=False),
    Column("time", UtcDateTime, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("origin", String(16), nullable=False),
    Column("source_topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("error_class", String(32), nullable=False),
    Column("original_b64", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

# One row per intake report: the facts a case page shows its committee (parties, contacts,
# summary, amount). ``case_id`` is the case the report opens.
reports = Table(
    "reports",
    metadata,
    Column("report_id", String(ID), primary_key=True),
    Column("case_id", String(ID), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("source", String(200), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("street", String(64), nullable=False),
    Column("community", String(64)),
    Column("data", JSON, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("committee_id", String(ID), nullable=False, index=True),
    Column("label", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
)

# The account tables live in their own module but on this metadata, so the migrations and the
# schema comparison see every table of the database.
from consumers.accounts import tables as _account_tables  # noqa: E402, F401
