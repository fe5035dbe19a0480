"""``fengqiao tokens create``: a token only for a committee of the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from consumers.db import SqlStore
from fengqiao.cli import app as cli


def test_a_token_for_a_committee_outside_the_catalogue_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI builds its settings once per process: drop any an earlier test built, so this
    # run reads the environment below (and never writes to the default database).
    monkeypatch.setattr("fengqiao.cli._settings", None)
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    env = {"FENGQIAO_DATABASE_URL": url, "COLUMNS": "200"}
    runner = CliRunner()
    bad = runner.invoke(cli, ["tokens", "create", "--committee", "no-such-committee"], env=env)
    assert bad.exit_code == 1
    assert "--committee: there is no such committee in the catalogue" in bad.output
    assert "Traceback" not in bad.output
    near = runner.invoke(cli, ["tokens", "create", "--committee", "yongzhong-stret"], env=env)
    assert near.exit_code == 1 and "did you mean yongzhong-street," in near.output
    ok = runner.invoke(cli, ["tokens", "create", "--committee", "yongzhong-street"], env=env)
    assert ok.exit_code == 0, ok.output
    token = ok.output.strip().splitlines()[-1]
    assert token.startswith("fqt_")
    store = SqlStore.open(url)
    try:
        assert [i.committee_id for i in store.list_tokens()] == ["yongzhong-street"]
    finally:
        store.close()
