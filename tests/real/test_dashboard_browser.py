"""The command center in real headless Chromium (Debian's, driven by Playwright): a command
account logs in through the workbench, the dashboard draws a planted week in its daily chart
(read from the chart's own data), a heat cell and an incident open their drill-downs, no
personal value from the planted events reaches the page or its JSON, and without a login the
dashboard is refused. The store is a real SQLite case store, filled through ``apply`` as the
sink does; the metrics fold is fed the same events in process. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from consumers.accounts.service import Accounts
from consumers.dashboard import create_app
from consumers.db import SqlStore
from consumers.figures.drill import feed_ref
from consumers.lifecycle import MemoryPublisher
from consumers.metrics.fold import MetricsSink
from fengqiao.metrics_wiring import command_gate
from fengqiao.settings import Settings
from fengqiao.workbench import account_service, create_workbench_app
from tests.casetools import incident, item, lifecycle, routed
from tests.chromium import playwright_chromium
from tests.httptools import serve
from tests.monitoring_events import risk
from tests.real.test_workbench_browser import ID_NUMBER, NAME, PHONE, first_login, intake_dispute
from tests.unit.test_dashboard_counts_unit import linked_event

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The planted week ends on this local day (UTC+8); cases at 10:00 local.
LAST_DAY = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
DISPUTES = [3, 1, 4, 1, 5, 9, 2]  # per day, oldest first
PETITIONS = [0, 1, 0, 2, 0, 0, 1]
RISE = [0.0, 3.0, 5.0, 9.0, 14.0, 22.0, 31.5]  # added to each street's base score, per day
EMPLOYER = f"{NAME}建筑劳务有限公司"  # an incident key that names a person
LINKED_TODAY = (("lk-1", "miniapp"), ("lk-2", "walkin"))


@dataclass
class Center:
    url: str
    workbench: str
    accounts: Accounts
    incident_ref: str


def planted() -> tuple[list[tuple[str, dict[str, Any]]], str]:
    events: list[tuple[str, dict[str, Any]]] = []
    n = 0
    for day in range(7):
        at = LAST_DAY - timedelta(days=6 - day)
        for kind, per_day in (("dispute", DISPUTES), ("petition", PETITIONS)):
            for _ in range(per_day[day]):
                n += 1
                cid = f"cc-{n:03d}"
                intake = intake_dispute(cid) | {"time": at.isoformat()}
                events.append(("intake.disputes", intake))
                category = "contract" if kind == "dispute" else "housing"
                events.append(("cases.routed", routed(cid, kind=kind, category=category, time=at)))
    # Five disputes of the first days concluded two hours after routing, one without agreement.
    for cid, outcome in (("cc-001", "agreement"), ("cc-002", "agreement"),
                         ("cc-003", "no_agreement"), ("cc-004", "agreement"),
                         ("cc-005", "agreement")):  # fmt: skip
        env = next(e for t, e in events if t == "cases.routed" and e["data"]["case_id"] == cid)
        at = datetime.fromisoformat(env["time"]) + timedelta(hours=2)
        events.append(("cases.lifecycle", lifecycle(cid, "accept", 0, "yongzhong-street", at)))
        events.append(
            ("cases.lifecycle",
             lifecycle(cid, "conclude", 1, "yongzhong-street", at, outcome=outcome))
        )  # fmt: skip
    # The streets' risk rising through the week; yongzhong's contract cell ends red.
    for day in range(7):
        at = LAST_DAY - timedelta(days=6 - day) + timedelta(hours=1)
        for street, base in (("yongzhong", 20.0), ("haibin", 10.0), ("xinghai", 5.0)):
            score = base + RISE[day]
            level = "red" if score >= 50 else "orange" if score >= 35 else "yellow"
            events.append(("risk.levels", risk(street, "contract", level, score, at)))
    members = ["cc-001", "cc-002", "cc-003"]
    inc = incident("inc-wage-0001", members, 23, time=LAST_DAY)
    inc["data"]["key"] = f"name:{EMPLOYER}"
    events.append(("incidents", inc))
    return events, feed_ref("incident", inc["data"]["incident_id"])


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    s = Settings(database_url=f"sqlite:///{tmp_path / 'cases.db'}", clock="stream")
    store = SqlStore.open(s.effective_database_url())
    accounts = account_service(s, store.engine)
    events, ref = planted()
    to_store = [(t, e) for t, e in events if t not in ("intake.disputes", "risk.levels")]
    store.apply([item(t, e, i) for i, (t, e) in enumerate(to_store)])
    registry = CollectorRegistry()
    sink = MetricsSink(registry)  # no clock: "now" is the newest event (the planted week)
    for topic, env in events:
        sink.handle(topic, json.dumps(env).encode())
    # Two reports of the last day that joined open cases: reports of the day, not new cases.
    for rid, channel in LINKED_TODAY:
        env = linked_event(rid, channel, LAST_DAY + timedelta(minutes=30), case_id="cc-030")
        sink.handle("cases.lifecycle", json.dumps(env).encode())
    try:
        with serve(create_workbench_app(s, store, MemoryPublisher(), accounts)) as wb:
            gate = command_gate(accounts, f"{wb}/login")
            with serve(create_app(sink, registry, gate=gate, store=store.engine)) as url:
                yield Center(url, wb, accounts, ref)
    finally:
        store.close()


def _no_personal(text: str, where: str) -> None:
    for value in (NAME, PHONE, ID_NUMBER, EMPLOYER):
        assert value not in text, f"a personal value in {where}"


def test_command_center_after_login_charts_drill_down_and_no_personal_data(
    center: Center,
) -> None:
    from playwright.sync_api import sync_playwright

    _acc, one_time = center.accounts.create("zhihui", "command")
    _acc, mediator_pw = center.accounts.create("li.ming", "mediator", ["yongzhong-street"])
    ARTIFACTS.mkdir(exist_ok=True)
    responses: list[str] = []
    with sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            # Without a login: the page goes to the workbench's login, the JSON is refused.
            anon = browser.new_context().new_page()
            anon.goto(f"{center.url}/dashboard")
            assert anon.url.startswith(f"{center.workbench}/login")
            for path in ("/api/dashboard", "/api/trends?period=7d", "/api/drill/cell"):
                assert httpx.get(center.url + path).status_code == 401, path

            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.on(
                "response",
                lambda r: responses.append(r.text()) if "/api/" in r.url and r.ok else None,
            )
            first_login(page, center.workbench, "zhihui", one_time)
            page.wait_for_url(f"{center.workbench}/**")
            page.goto(f"{center.url}/dashboard")
            page.wait_for_function("document.body.dataset.trends >= 1")
            page.click('#periods button[data-period="7d"]')
            page.wait_for_function("document.body.dataset.period === '7d'")
            page.wait_for_function("document.body.dataset.trends >= 2")

            # The daily chart's own data: the planted week, day by day, by kind.
            opt = page.evaluate(
                "(() => { const o = fqCharts.cases.getOption();"
                " return {x: o.xAxis[0].data, xname: o.xAxis[0].name, yname: o.yAxis[0].name,"
                " s: Object.fromEntries(o.series.map(s => [s.id, s.data]))}; })()"
            )
            first = (LAST_DAY - timedelta(days=6)).astimezone().date()
            assert opt["x"][0] == "2026-03-01" and opt["x"][-1] == "2026-03-07", first
            assert opt["s"]["dispute"] == DISPUTES
            assert opt["s"]["petition"] == PETITIONS
            assert opt["s"]["wage_arrears"] == [0] * 7
            assert (opt["xname"], opt["yname"]) == ("日期", "件数")
            risk_series = page.evaluate(
                "Object.fromEntries(fqCharts.risk.getOption().series.map(s => [s.id, s.data]))"
            )
            assert len(risk_series) == 10  # the ten streets
            assert risk_series["yongzhong"] == [20.0 + r for r in RISE]
            assert risk_series["haibin"] == [10.0 + r for r in RISE]
            assert risk_series["puzhou"] == [0] * 7
            success = page.evaluate("fqCharts.success.getOption().series[0].data")
            # Day 1: cc-001..003 concluded, two agreed; day 2: cc-004 agreed (cc-005 is a
            # petition, not a dispute); no dispute concluded after: gaps, not zeros.
            assert success[2:] == [None] * 5
            assert [v for v in success if v is not None] == [66.67, 100.0]
            incidents = page.evaluate("fqCharts.incidents.getOption().series[0].data")
            assert sum(incidents) == 1
            # Today's cases and today's reports, apart: the last day's routed cases, and those
            # plus the reports that joined an open case.
            page.wait_for_selector("[data-count=today_reports]")
            cases_today = DISPUTES[-1] + PETITIONS[-1]
            shown = page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('#counts-main .count')]"
                ".map(d => [d.dataset.count, d.querySelector('b').textContent]))"
            )
            assert shown == {
                "today_cases": str(cases_today),
                "today_reports": str(cases_today + len(LINKED_TODAY)),
            }, shown
            assert "并案" in page.inner_text("#counts-main")
            page.screenshot(path=str(ARTIFACTS / "command-center.png"), full_page=True)

            # A heat cell opens its drill-down: counts by committee, status and age.
            page.click("#cell-yongzhong-contract")
            page.wait_for_selector("#drill-committees")
            title = page.inner_text("#drill-title")
            assert f"共 {sum(DISPUTES)} 件" in title, title
            status = page.inner_text("#drill-status")
            assert "待受理" in status and "已办结\t4" in status, status
            age = page.inner_text("#drill-age")
            assert "1天内" in age and "1至7天" in age
            page.screenshot(path=str(ARTIFACTS / "command-center-drill-cell.png"))
            page.keyboard.press("Escape")

            # An incident in the feed opens its member cases: ids, committees and statuses.
            page.click(f'#feed li[data-ref="{center.incident_ref}"]')
            page.wait_for_selector("#drill-members")
            members = page.inner_text("#drill-members")
            for cid in ("cc-001", "cc-002", "cc-003"):
                assert cid in members
            assert members.count("永中街道人民调解委员会\t已办结") == 3, members
            page.screenshot(path=str(ARTIFACTS / "command-center-drill-incident.png"))

            _no_personal(page.inner_text("body"), "the page text")
            _no_personal(page.content(), "the page source")
            assert len(responses) >= 5
            for body in responses:
                _no_personal(body, "a JSON response")

            # A mediator's session does not open the command center.
            other = browser.new_context().new_page()
            first_login(other, center.workbench, "li.ming", mediator_pw)
            other.wait_for_url(f"{center.workbench}/**")
            cookie = {c["name"]: c["value"] for c in other.context.cookies()}
            got = httpx.get(f"{center.url}/api/dashboard", cookies=cookie)
            assert got.status_code == 401
        finally:
            browser.close()
