"""The Alembic migrations build exactly the tables the code queries (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from consumers.db import MIGRATIONS, SqlStore, current_revision, make_engine, upgrade
from consumers.tables import metadata
from tests.casetools import item, routed


def _head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent
        assert current_revision(engine) == _head()
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def test_the_revisions_form_one_line() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1
    chain = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    assert chain[:2] == ["0001", "0002"]


def test_sqlite_schema_matches_the_tables(tmp_path: Path) -> None:
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_cases_stored_before_the_case_actions_revision_read_back_unassigned(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    engine.dispose()
    # the routed case is written by the code of that time: only 0001's columns exist then
    old = item("cases.routed", routed("c1", "a"))
    with make_engine(url).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO cases (case_id, kind, street, category, committee_id, committee_type, "
            "tier, rule_id, ruleset_version, reasons, rejected, deadline, routed_at, "
            "routed_event_id, status, version) VALUES ('c1', 'dispute', 'yongzhong', 'contract', "
            "'a', 'street', 'street', 'default', 'test-1', '[]', '[]', '2026-03-31 09:30:00', "
            "'2026-03-01 09:30:00', 'c1/routed', 'accepted', 1)"
        )
    store = SqlStore.open(url)  # migrates to the head
    try:
        c = store.get_case(old.data["case_id"])
        assert c is not None
        assert (c.status, c.state.version, c.assignee, c.explanation) == (
            "accepted",
            1,
            None,
            None,
        )
    finally:
        store.close()


def test_the_case_actions_revision_downgrades(tmp_path: Path) -> None:
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    try:
        upgrade(engine, "0002")
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert current_revision(engine) == "0001"
        with engine.connect() as conn:
            cols = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(cases)")}
        assert "assignee" not in cols and "explanation" not in cols and "version" in cols
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_schema_matches_the_tables(pg_url: str) -> None:
    assert _diff(pg_url) == []


def test_the_reports_revision_adds_the_table_and_downgrades(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    engine = make_engine(f"sqlite:///{tmp_path / 'reports.db'}")
    try:
        upgrade(engine, "0004")
        cols = {c["name"] for c in inspect(engine).get_columns("reports")}
        assert cols == {
            "report_id",
            "case_id",
            "kind",
            "source",
            "channel",
            "time",
            "street",
            "community",
            "data",
        }
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        assert current_revision(engine) == "0003"
        assert "reports" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
