"""Case actions: who a case is assigned to, and the routing explanation as codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 200


def upgrade() -> None:
    # Both nullable: existing cases are unassigned and were routed without an explanation.
    op.add_column("cases", sa.Column("assignee", sa.String(ID)))
    op.add_column("cases", sa.Column("explanation", sa.JSON))
    op.create_index("ix_cases_committee_assignee", "cases", ["committee_id", "assignee"])


def downgrade() -> None:
    op.drop_index("ix_cases_committee_assignee", table_name="cases")
    with op.batch_alter_table("cases") as batch:  # SQLite rebuilds the table to drop columns
        batch.drop_column("explanation")
        batch.drop_column("assignee")
