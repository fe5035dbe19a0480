"""``fengqiao report --from --to`` reads the bureau's figures from the case store (SQLite and
PostgreSQL), and every figure's printed SQL, pasted into the database, gives the same number."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from consumers.db import SqlStore
from consumers.figures import annual
from consumers.figures.window import Window
from tests.casetools import incident, item, lifecycle, routed

TZ = timezone(timedelta(hours=8))
# 2022-01-01 03:00 local is 2021-12-31 19:00 UTC: inside the local year, outside the UTC one.
EARLY = datetime(2021, 12, 31, 19, 0, tzinfo=UTC)
MID = datetime(2022, 6, 15, 2, 0, tzinfo=UTC)
# 2023-01-01 01:00 local is still 2022 in UTC: outside the local year.
LATE = datetime(2022, 12, 31, 17, 0, tzinfo=UTC)


def plant(store: SqlStore) -> None:
    items = []
    n = 0

    def add(topic: str, env: dict) -> None:
        nonlocal n
        items.append(item(topic, env, n))
        n += 1

    # Three disputes concluded in the year (two agreements with amounts, one not), a petition,
    # two wage claims in one incident, and a dispute concluded the next local year.
    for cid, at, outcome, amount in (
        ("d1", EARLY, "agreement", "1000.50"),
        ("d2", MID, "agreement", "2500"),
        ("d3", MID, "no_agreement", None),
        ("d4", LATE, "agreement", "99"),
    ):
        add("cases.routed", routed(cid, time=at, category="contract"))
        add("cases.lifecycle", lifecycle(cid, "accept", 0, "yongzhong-street", at))
        extra = {"outcome": outcome} | ({"agreed_amount_yuan": amount} if amount else {})
        add(
            "cases.lifecycle",
            lifecycle(cid, "conclude", 1, "yongzhong-street", at + timedelta(hours=1), **extra),
        )
    add("cases.routed", routed("p1", kind="petition", category="housing", time=MID))
    add("cases.routed", routed("w1", kind="wage_arrears", category="labor", time=MID))
    add("cases.routed", routed("w2", kind="wage_arrears", category="labor", time=MID))
    add("incidents", incident("inc-1", ["w1", "w2"], 7, time=MID))
    result = store.apply(items)
    assert result.applied == len(items), result


def check(engine) -> annual.AnnualReport:  # type: ignore[no-untyped-def]
    rep = annual.build(engine, Window(date(2022, 1, 1), date(2022, 12, 31), TZ))
    assert rep.get("disputes_mediated") == 3
    assert rep.get("disputes_settled") == 2
    assert rep.get("amount_yuan") == Decimal("3500")  # 1000.50 + 2500, rounded to the yuan
    assert rep.get("success_rate") == 66.67
    assert rep.get("disputes_received") == 3
    assert rep.get("petitions") == 1
    assert rep.get("wage_claims") == 2
    assert rep.get("group_wage_incidents") == 1
    assert rep.get("group_wage_people") == 7
    assert rep.get("by_kind") == {"dispute": 3, "petition": 1, "wage_arrears": 2}
    assert rep.get("by_category") == {"contract": 3, "housing": 1, "labor": 2}
    assert rep.get("by_street") == {"yongzhong": 6}
    # Every single-statement figure's SQL gives the same value run on its own.
    with engine.connect() as conn:
        for f in rep.figures:
            if f.sql.startswith("--") or isinstance(f.value, dict):
                continue
            got = conn.execute(text(f.sql)).scalar_one()
            assert Decimal(str(got)).quantize(Decimal("1")) == Decimal(str(f.value)).quantize(
                Decimal("1")
            ), f.key
    return rep


def test_report_figures_from_sqlite_and_the_printed_sql_runs_in_sqlite3(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    store = SqlStore.open(f"sqlite:///{db}")
    try:
        plant(store)
        rep = check(store.engine)
    finally:
        store.close()
    # The SQL as printed, in the sqlite3 library a reader would use: the same counts.
    con = sqlite3.connect(db)
    try:
        sql = next(f.sql for f in rep.figures if f.key == "disputes_mediated")
        assert con.execute(sql).fetchone()[0] == 3
        sql = next(f.sql for f in rep.figures if f.key == "by_kind")
        assert dict(con.execute(sql).fetchall()) == {"dispute": 3, "petition": 1, "wage_arrears": 2}
    finally:
        con.close()


@pytest.mark.postgres
def test_report_figures_from_postgresql(pg_url: str) -> None:
    store = SqlStore.open(pg_url)
    try:
        plant(store)
        check(store.engine)
    finally:
        store.close()


def test_report_cli_text_json_and_bad_dates(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    store = SqlStore.open(f"sqlite:///{db}")
    plant(store)
    store.close()
    env = {"FENGQIAO_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "fengqiao", "report", "--from", "2022-01-01", "--to", "2022-12-31"]
    out = subprocess.run([*cli, "--format", "json"], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    figures = {f["key"]: f for f in json.loads(out.stdout)["figures"]}
    assert figures["disputes_mediated"]["value"] == 3
    assert figures["amount_yuan"]["value"] == "3500"
    assert figures["consultations"]["value"] is None  # not in the store, and said so
    assert "not in the case store" in figures["consultations"]["sql"]
    txt = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert txt.returncode == 0, txt.stderr
    assert "调处纠纷" in txt.stdout and "SELECT COUNT(*) FROM cases" in txt.stdout
    bad = subprocess.run(
        [*cli[:4], "--from", "2022-13-01", "--to", "2022-12-31"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "--from and --to must be dates" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.browser
def test_report_pdf_is_a_chinese_page_with_charts(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "cases.db"
    store = SqlStore.open(f"sqlite:///{db}")
    plant(store)
    store.close()
    env = {"FENGQIAO_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}
    pdf, page = tmp_path / "report.pdf", tmp_path / "report.html"
    cli = [sys.executable, "-m", "fengqiao", "report", "--from", "2022-01-01", "--to", "2022-12-31"]
    for fmt, out in (("html", page), ("pdf", pdf)):
        done = subprocess.run([*cli, "--format", fmt, "--out", str(out)], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    body = page.read_text(encoding="utf-8")
    assert "年度矛盾纠纷调处数据" in body and "调处纠纷" in body and "echarts.init" in body
    assert (
        "http://" not in body.split("<script>")[0] and "https://" not in body.split("<script>")[0]
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(pdf, artifacts / "annual-report.pdf")
    png = subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(artifacts / "annual-report-page1")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert png.returncode == 0, png.stderr
    text = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60).stdout  # fmt: skip
    assert "调处纠纷" in text and "3件" in text.replace(" ", "")
