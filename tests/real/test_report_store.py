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
from tests.casetools import (
    dispute_report,
    incident,
    item,
    lifecycle,
    petition_report,
    routed,
    wage_report,
)

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
    # The reports: each case's own, except w2's (the store never got it). d1 is repeated
    # twice: once naming its case (the earliest report still opens it), once linked (a report
    # of its own id that opens no case). Neither counts as a case or adds an amount.
    for rid, at, channel, claimed in (
        ("d1", EARLY, "hotline", "1200"),
        ("d2", MID, "miniapp", "2500"),
        ("d3", MID, "web", "800.40"),
        ("d4", LATE, "miniapp", "99"),
    ):
        env = dispute_report(rid, time=at, channel=channel, source=f"{channel}/test")
        env["data"]["amount_yuan"] = claimed
        add("intake.disputes", env)
    again = dispute_report("d1-again", subject="d1", time=MID, channel="web", source="web/t")
    again["data"]["amount_yuan"] = "999999"
    add("intake.disputes", again)
    add("intake.disputes", dispute_report("d1-linked", time=MID, channel="walkin"))
    add("intake.petitions", petition_report("p1", time=MID))  # by letter
    add("intake.wage-arrears", wage_report("w1", time=MID))  # by the mini-program
    result = store.apply(items)
    assert result.applied == len(items), result


def check(engine) -> annual.AnnualReport:  # type: ignore[no-untyped-def]
    rep = annual.build(engine, Window(date(2022, 1, 1), date(2022, 12, 31), TZ))
    assert rep.get("disputes_mediated") == 3
    assert rep.get("disputes_settled") == 2
    assert rep.get("success_rate") == 66.67
    assert rep.get("disputes_received") == 3
    assert rep.get("petitions") == 1
    assert rep.get("wage_claims") == 2
    assert rep.get("group_wage_incidents") == 1
    assert rep.get("group_wage_people") == 7
    assert rep.get("by_kind") == {"dispute": 3, "petition": 1, "wage_arrears": 2}
    assert rep.get("by_category") == {"contract": 3, "housing": 1, "labor": 2}
    assert rep.get("by_street") == {"yongzhong": 6}
    # From the reports: the claimed amounts of the three disputes mediated (1200 + 2500 +
    # 800.40), the agreed ones apart (1000.50 + 2500, to the yuan).
    assert rep.get("amount_yuan") == Decimal("4500")
    assert rep.get("agreed_amount_yuan") == Decimal("3500")
    assert rep.get("by_channel") == {
        "hotline": 1, "letter": 1, "miniapp": 2, "unknown": 1, "web": 1,
    }  # fmt: skip
    assert rep.get("online_share") == 60.0  # d2, d3, w1 of the five cases with a report
    assert rep.get("cases_without_report") == 1
    assert rep.get("reports_received") == 7  # d1, d2, d3, both repeats, p1, w1
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
        sql = next(f.sql for f in rep.figures if f.key == "by_channel")
        assert dict(con.execute(sql).fetchall())["miniapp"] == 2
        sql = next(f.sql for f in rep.figures if f.key == "amount_yuan")
        assert round(con.execute(sql).fetchone()[0], 2) == 4500.40
    finally:
        con.close()


@pytest.mark.postgres
def test_report_figures_from_postgresql(pg_url: str) -> None:
    store = SqlStore.open(pg_url)
    try:
        plant(store)
        assert check(store.engine).backend == "postgresql"
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
    assert figures["amount_yuan"]["value"] == "4500"
    assert figures["agreed_amount_yuan"]["value"] == "3500"
    assert figures["online_share"]["value"] == 60.0
    assert "FROM cases c JOIN reports r" in figures["online_share"]["sql"]
    # Consultations open no case and no report: without --intake they are not counted, and the
    # report says why instead of printing a zero.
    assert figures["consultations"]["value"] is None
    assert "not in the case store" in figures["consultations"]["sql"]
    assert "--intake" in figures["consultations"]["sql"]
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
