"""The facts of each intake report (parties, contacts, summary, amount), for the case page.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = 200


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_id", sa.String(ID), primary_key=True),
        sa.Column("case_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("street", sa.String(64), nullable=False),
        sa.Column("community", sa.String(64)),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_reports_case_id", table_name="reports")
    op.drop_table("reports")
