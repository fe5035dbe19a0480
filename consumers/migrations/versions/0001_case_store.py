"""The case store: processed events, cases, history, incidents, escalations, SLA alerts,
dead letters, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 200


def ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("topic", sa.String(100), nullable=False),
        ts("processed_at"),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(ID), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("street", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("committee_id", sa.String(ID), nullable=False),
        sa.Column("committee_type", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("ruleset_version", sa.String(100), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("rejected", sa.JSON, nullable=False),
        ts("deadline"),
        ts("routed_at"),
        sa.Column("routed_event_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("agreed_amount_yuan", sa.String(32)),
        ts("accepted_at", True),
        ts("concluded_at", True),
        ts("closed_at", True),
    )
    op.create_index("ix_cases_committee_status", "cases", ["committee_id", "status"])
    op.create_index("ix_cases_committee_deadline", "cases", ["committee_id", "deadline"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(ID), nullable=False),
        sa.Column("case_id", sa.String(ID), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        ts("time"),
        sa.Column("committee_id", sa.String(ID)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("event_id", name="uq_case_history_event_id"),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(ID), primary_key=True),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        ts("window_start"),
        ts("window_end"),
        sa.Column("case_ids", sa.JSON, nullable=False),
        sa.Column("people", sa.Integer, nullable=False),
        sa.Column("amount_yuan", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(ID), nullable=False),
        ts("time"),
    )
    op.create_table(
        "escalations",
        sa.Column("escalation_id", sa.String(ID), primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("to_committee_id", sa.String(ID), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("incident_id", sa.String(ID)),
        sa.Column("case_id", sa.String(ID)),
        sa.Column("event_id", sa.String(ID), nullable=False),
        ts("time"),
    )
    op.create_table(
        "sla_alerts",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(ID), nullable=False),
        sa.Column("committee_id", sa.String(ID), nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        ts("due"),
        ts("time"),
    )
    op.create_index("ix_sla_alerts_case_id", "sla_alerts", ["case_id"])
    op.create_table(
        "dead_letters",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source_topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("error_class", sa.String(32), nullable=False),
        sa.Column("original_b64", sa.Text, nullable=False),
        ts("received_at"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("committee_id", sa.String(ID), nullable=False),
        sa.Column("label", sa.String(200)),
        ts("created_at"),
    )
    op.create_index("ix_api_tokens_committee_id", "api_tokens", ["committee_id"])


def downgrade() -> None:
    for table in (
        "api_tokens",
        "dead_letters",
        "sla_alerts",
        "escalations",
        "incidents",
        "case_history",
        "cases",
        "processed_events",
    ):
        op.drop_table(table)
