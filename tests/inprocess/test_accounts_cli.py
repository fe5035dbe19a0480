"""``fengqiao users``: create, list, disable, enable, reset-password, grant, revoke, with clear
errors and the one-time password printed once, never stored or listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import fengqiao.cli as cli_module
from consumers.accounts.sql import SqlAccounts
from consumers.db import make_engine
from fengqiao.cli import app as cli
from tests.workbenchtools import A, B


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'fq.db'}"
    monkeypatch.setattr(cli_module, "_settings", None)  # settings are built from this env
    env = {"FENGQIAO_DATABASE_URL": url, "FENGQIAO_HOME": str(tmp_path), "COLUMNS": "200"}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        cli_module._settings = None
        return runner.invoke(cli, list(args), env=env)

    invoke.url = url  # type: ignore[attr-defined]
    return invoke


def test_create_prints_a_one_time_password_that_is_stored_only_hashed(run) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "create", "li.ming", "--role", "mediator", "--committee", A)
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]
    assert len(secret) == 14 and "created li.ming" in r.output
    engine = make_engine(run.url)
    try:
        acc = SqlAccounts(engine).by_username("li.ming")
    finally:
        engine.dispose()
    assert acc is not None and acc.must_change_password and secret not in acc.password_hash
    listed = run("users", "list")
    assert listed.exit_code == 0
    assert "li.ming" in listed.output and f"mediator@{A}" in listed.output
    assert "must change password" in listed.output and secret not in listed.output
    assert "$argon2" not in listed.output


def test_unknown_committees_and_bad_roles_are_refused_clearly(run) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "create", "li.ming", "--committee", "atlantis-street")
    assert r.exit_code == 1 and "unknown committee 'atlantis-street'" in r.output
    assert "Traceback" not in r.output
    r = run("users", "create", "li.ming", "--role", "head")
    assert r.exit_code == 1 and "needs --committee" in r.output
    r = run("users", "create", "zhihui", "--role", "command", "--committee", A)
    assert r.exit_code == 1 and "not bound to a committee" in r.output
    r = run("users", "create", "li.ming", "--role", "chief", "--committee", A)
    assert r.exit_code == 1 and "unknown role 'chief'" in r.output
    r = run("users", "disable", "nobody")
    assert r.exit_code == 1 and "no account named 'nobody'" in r.output
    assert run("users", "list").output.startswith("no accounts")


def test_grant_revoke_disable_enable_and_reset(run) -> None:  # type: ignore[no-untyped-def]
    assert run("users", "create", "li.ming", "--committee", A).exit_code == 0
    r = run("users", "grant", "li.ming", "--role", "head", "--committee", A)
    assert r.exit_code == 0 and f"head@{A}" in r.output
    r = run("users", "grant", "li.ming", "--role", "mediator", "--committee", B)
    assert f"mediator@{B}" in r.output
    r = run("users", "revoke", "li.ming", "--role", "head", "--committee", A)
    assert r.exit_code == 0 and "head@" not in r.output
    r = run("users", "revoke", "li.ming", "--role", "head", "--committee", A)
    assert r.exit_code == 1 and "does not hold the role head" in r.output
    r = run("users", "disable", "li.ming")
    assert r.exit_code == 0 and "disabled li.ming; 0 session(s) ended" in r.output
    assert "disabled" in run("users", "list").output
    assert run("users", "enable", "li.ming").exit_code == 0
    r = run("users", "reset-password", "li.ming")
    assert r.exit_code == 0 and len(r.output.strip().splitlines()[-1]) == 14


def test_committees_lists_the_ids_with_chinese_names(run) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "committees")
    assert r.exit_code == 0 and A in r.output and "永中街道人民调解委员会" in r.output
