"""The account tables, in the case store's database and on its metadata, so one Alembic
history (revision 0003) creates them and the schema comparison test covers them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table

from consumers.tables import ID, UtcDateTime, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("username_key", String(64), nullable=False, unique=True),  # lower-case, for lookups
    Column("display_name", String(200)),
    Column("password_hash", String(255), nullable=False),
    Column("must_change_password", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime),
)

account_grants = Table(
    "account_grants",
    metadata,
    Column(
        "account_id",
        String(32),
        ForeignKey("accounts.account_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(16), primary_key=True),
    # "" for the global roles (command, admin): a primary key column cannot be NULL.
    Column("committee_id", String(ID), primary_key=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("account_id", String(32), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_login_failures_key_at", "key", "at"),
)
