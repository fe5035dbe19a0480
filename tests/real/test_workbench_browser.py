"""The workbench in real headless Chromium (Debian's, driven by Playwright).

The first test runs the whole path: an intake event published to the real broker, the real
worker routing it, the real sink writing it, and the page showing it without a reload; then a
mediator accepts, assigns and concludes it through the page. The second runs the workbench
over the in-memory store to show CSRF refusal and a disabled account's logout in the browser.
Screenshots land in test-artifacts/ (kept out of git) for a person to look at.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.accounts.service import Accounts
from consumers.api import create_app
from consumers.db import SqlStore
from consumers.lifecycle import KafkaLifecyclePublisher
from consumers.tokens import hash_token, new_token
from fengqiao.settings import Settings
from fengqiao.wiring import api_config, publisher_config
from fengqiao.workbench import account_service, create_workbench_app
from tests.casetools import SinkProcess, publish, routed, sink_env
from tests.chromium import playwright_chromium
from tests.httptools import serve
from tests.kafkatools import WorkerProcess, drain_topic
from tests.workbenchtools import PASSWORD, A, B, build

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Personal data in the report: it must reach no page a command account sees.
NAME, PHONE, ID_NUMBER = "陈晓红", "13812345678", "11010519491231002X"


def intake_dispute(event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": "hotline/12348",
        "type": "dispute.reported.v1",
        "time": datetime.now(UTC).isoformat(),
        "subject": None,
        "data": {
            "street": "yongzhong",
            "category": "contract",
            "parties": [
                {
                    "role": "applicant",
                    "kind": "person",
                    "name": NAME,
                    "phone": PHONE,
                    "id_number": ID_NUMBER,
                },
                {"role": "respondent", "kind": "organisation", "name": "温州某装饰有限公司"},
            ],
            "party_count": 2,
            "amount_yuan": "18000",
            "collective": False,
            "channel": "hotline",
            "summary": "装修合同尾款纠纷",
        },
    }


@dataclass
class Stack:
    settings: Settings
    store: SqlStore
    accounts: Accounts
    url: str
    api_url: str
    tokens: dict[str, str]


@pytest.fixture
def stack(kafka_settings: Settings, worker: WorkerProcess, tmp_path: Path) -> Iterator[Stack]:
    s = kafka_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}", "workbench_poll_seconds": 1}
    )
    store = SqlStore.open(s.effective_database_url())
    accounts = account_service(s, store.engine)
    tokens = {}
    for committee in (A, B):
        tokens[committee] = new_token()
        store.add_token(committee, hash_token(tokens[committee]), None)
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(100))
    sink.start()
    publisher = KafkaLifecyclePublisher(publisher_config(s))
    try:
        with (
            serve(create_workbench_app(s, store, publisher, accounts)) as url,
            serve(create_app(api_config(s), store, publisher)) as api_url,
        ):
            yield Stack(s, store, accounts, url, api_url, tokens)
    finally:
        publisher.close()
        sink.stop()
        store.close()


def first_login(page: Any, url: str, username: str, one_time: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(one_time)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{url}/password")
    assert "请设置您自己的新密码" in page.inner_text("main")
    page.get_by_label("临时密码（管理员发给您的）").fill(one_time)
    page.get_by_label("新密码", exact=True).fill(PASSWORD)
    page.get_by_label("再次输入新密码").fill(PASSWORD)
    page.get_by_role("button", name="保存").click()


def reload_until(page: Any, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in page.inner_text("main"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not on the page after {timeout_s}s")
        page.wait_for_timeout(300)
        if text not in page.inner_text("main"):
            page.reload()


@pytest.mark.kafka
def test_a_case_from_kafka_is_worked_to_conclusion_in_the_browser(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    _, one_time = stack.accounts.create("li.ming", "head", [A], display_name="李明")
    stack.accounts.create("zhao.lei", "mediator", [A], display_name="赵磊")
    _, b_one_time = stack.accounts.create("wang.fang", "mediator", [B])
    _, command_one_time = stack.accounts.create("zhihui", "command")
    li = stack.accounts.account("li.ming").account_id
    zhao = stack.accounts.account("zhao.lei").account_id
    case_id = f"hl-{uuid.uuid4().hex[:10]}"
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            console_errors: list[str] = []  # e.g. a script the content policy blocked
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.goto(f"{stack.url}/login")
            page.screenshot(path=str(ARTIFACTS / "workbench-login.png"))
            first_login(page, stack.url, "li.ming", one_time)
            page.wait_for_url(f"{stack.url}/inbox?done=password")
            assert "收件箱" in page.inner_text("h1") and "共 0 件" in page.inner_text("main")

            # A case published to Kafka shows up in the open inbox, no reload.
            page.evaluate("window.__noReload = true")
            publish(stack.settings, "intake.disputes", [intake_dispute(case_id)])
            published = time.monotonic()
            page.wait_for_selector(f'tr[data-case-id="{case_id}"]', timeout=5000)
            seen_after = time.monotonic() - published
            assert page.evaluate("window.__noReload") is True
            assert seen_after < 5.0
            print(f"\nthe routed case was in the open inbox {seen_after:.2f} s after publishing")
            row = page.inner_text(f'tr[data-case-id="{case_id}"]')
            assert "矛盾纠纷" in row and "合同" in row and "永中街道" in row and "待受理" in row
            assert "受理时限" in row and "剩 23 小时" in row
            page.screenshot(path=str(ARTIFACTS / "workbench-inbox.png"), full_page=True)

            # The case page explains the routing in Chinese.
            page.get_by_role("link", name=case_id).click()
            page.wait_for_url(f"**/cases/{case_id}")
            routing = page.inner_text("#routing-h + p + ul")
            assert "规则 default" in routing and "适用本规则" in routing
            assert "分流至永中街道人民调解委员会" in routing
            page.get_by_text("考虑过但未采用的规则").click()
            assert "不适用：街道 永中街道" in page.inner_text("details.alternatives")
            # The owner sees the report's facts: the sink keeps them from the intake topic
            # (which it may read a poll after the routing, hence the reload).
            reload_until(page, NAME)
            facts = page.inner_text('section[aria-labelledby="facts-h"]')
            for shown in (NAME, PHONE, ID_NUMBER, "温州某装饰有限公司", "装修合同尾款纠纷"):
                assert shown in facts
            assert "12348 热线" in facts and "18,000 元" in facts and "申请人" in facts
            page.evaluate("document.querySelector('details.alternatives').open = true")
            page.screenshot(path=str(ARTIFACTS / "workbench-case.png"), full_page=True)

            # accept → assign → conclude through the page.
            page.get_by_role("button", name="受理", exact=True).click()
            reload_until(page, "案件已更新")
            assert "办理中" in page.inner_text(".titlebar")
            page.get_by_label("分派给").select_option(label="赵磊")
            page.get_by_role("button", name="分派", exact=True).click()
            reload_until(page, "案件已更新")
            page.get_by_label("办理结果").select_option(label="达成协议")
            page.get_by_label("协议金额（元，达成协议时填写）").fill("15000")
            page.get_by_role("button", name="办结", exact=True).click()
            reload_until(page, "案件已更新")
            assert "已办结" in page.inner_text(".titlebar")
            history = page.inner_text("#history-h ~ table")
            for event in ("分流", "受理", "分派承办人", "办结"):
                assert event in history
            assert history.count(li) == 3 and history.count("李明") == 3
            assert "分派给 赵磊" in history and "达成协议" in history
            assert "15000 元" in history
            today = datetime.now(UTC).astimezone().strftime("%Y-%m-%d")
            assert history.count(today[:7]) >= 4  # each line has its time
            page.screenshot(path=str(ARTIFACTS / "workbench-case-concluded.png"), full_page=True)
            assert console_errors == []
            stored = stack.store.get_case(case_id)
            assert stored is not None and stored.status == "concluded"
            assert stored.state.outcome == "agreement" and stored.assignee == zhao
            assert stored.state.agreed_amount_yuan == "15000"

            # Committee B neither sees nor acts on the case: pages and API.
            b_page = browser.new_context().new_page()
            first_login(b_page, stack.url, "wang.fang", b_one_time)
            b_page.wait_for_url(f"{stack.url}/inbox?done=password")
            assert case_id not in b_page.content()
            r = b_page.goto(f"{stack.url}/cases/{case_id}")
            assert r is not None and r.status == 403
            assert "该案件属于其他调解委员会" in b_page.inner_text("main")
            b_page.goto(f"{stack.url}/inbox")
            csrf = b_page.get_attribute('input[name="csrf_token"]', "value")
            statuses = b_page.evaluate(
                """async ([id, csrf]) => {
                    const out = [];
                    for (const a of ["accept", "transfer", "conclude"]) {
                        const body = new URLSearchParams({csrf_token: csrf, version: "3",
                            outcome: "withdrawn", to_committee_id: "puzhou-street", reason: "x"});
                        const r = await fetch(`/cases/${id}/${a}`, {method: "POST", body});
                        out.push(r.status);
                    }
                    return out;
                }""",
                [case_id, csrf],
            )
            assert statuses == [403, 403, 403]
            with httpx.Client(base_url=stack.api_url, timeout=30) as api:
                auth = {"Authorization": f"Bearer {stack.tokens[B]}"}
                assert api.get(f"/cases/{case_id}", headers=auth).status_code == 403
                assert api.post(f"/cases/{case_id}/accept", headers=auth).status_code == 403
                assert case_id not in api.get("/cases", headers=auth).text
            events = drain_topic(stack.settings, "cases.lifecycle", quiet_s=2)
            assert [e["type"] for e in events] == [
                "case.accepted.v1",
                "case.assigned.v1",
                "case.concluded.v1",
            ]
            assert {e["data"]["actor"] for e in events} == {li}
            assert {e["data"]["committee_id"] for e in events} == {A}

            # A command account sees no name, phone or id number anywhere it can go.
            c_page = browser.new_context().new_page()
            first_login(c_page, stack.url, "zhihui", command_one_time)
            c_page.wait_for_url(f"{stack.url}/overview?done=password")
            seen = [c_page.content()]
            assert "永中街道人民调解委员会" in seen[0]
            for path in ("/inbox", f"/cases/{case_id}", "/inbox/rows", "/"):
                c_page.goto(f"{stack.url}{path}")
                seen.append(c_page.content())
            c_page.screenshot(path=str(ARTIFACTS / "workbench-command.png"), full_page=True)
            everything = "\n".join(seen)
            for secret in (NAME, PHONE, ID_NUMBER, "138 1234", "温州某装饰", "李明", "赵磊"):
                assert secret not in everything
            # ...and neither does the case store the pages read from.
            for row in stack.store.history(case_id):
                assert NAME not in json.dumps(row.data, ensure_ascii=False)
        finally:
            browser.close()


def test_csrf_and_a_disabled_account_in_the_browser() -> None:
    from playwright.sync_api import sync_playwright

    w = build()
    one_time = w.person("li.ming", "mediator", (A,))
    w.route(routed("c-1", A))
    with serve(w.app) as url, sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            page = browser.new_context().new_page()
            first_login(page, url, "li.ming", one_time)
            page.wait_for_url(f"{url}/inbox?done=password")
            assert page.inner_text('tr[data-case-id="c-1"]')

            # A POST without the session's token is refused, and nothing is published.
            status, text = page.evaluate(
                """async () => {
                    const r = await fetch("/cases/c-1/accept", {method: "POST",
                        body: new URLSearchParams({version: "0"})});
                    return [r.status, await r.text()];
                }"""
            )
            assert status == 403 and "安全校验失败" in text
            assert w.publisher.sent == []
            # Cross-site, the cookie is not even sent (SameSite=Strict, HttpOnly).
            cookie = next(c for c in page.context.cookies() if c["name"] == "fq_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert "fq_session" not in page.evaluate("document.cookie")

            # Disabled: the open inbox's next poll sends the browser to the login page.
            w.accounts.disable("li.ming")
            page.wait_for_url(f"{url}/login**", timeout=5000)
            assert "登录" in page.inner_text("h1")
            page.goto(f"{url}/cases/c-1")
            assert page.url.startswith(f"{url}/login")
            page.get_by_label("用户名").fill("li.ming")
            page.get_by_label("密码", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            assert "该账号已停用" in page.inner_text("main")
        finally:
            browser.close()


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter(e => e.type !== "hidden" && e.labels.length === 0)
    .map(e => e.name)"""


def test_a_case_is_worked_with_the_keyboard_alone_and_every_control_is_labelled() -> None:
    from playwright.sync_api import sync_playwright

    w = build()
    one_time = w.person("li.ming", "head", (A,))
    w.route(routed("c-1", A))
    with serve(w.app) as url, sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
            page.goto(f"{url}/login")
            assert page.evaluate(UNLABELLED) == []
            page.keyboard.type("li.ming")  # the username field has the focus
            page.keyboard.press("Tab")
            page.keyboard.type(one_time)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/password")
            assert page.evaluate(UNLABELLED) == []
            for value in (one_time, PASSWORD, PASSWORD):
                page.keyboard.type(value)
                page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/inbox?done=password")
            assert page.evaluate(UNLABELLED) == []
            for _ in range(40):  # tab through the page to the case's link
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.textContent") == "c-1":
                    break
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/cases/c-1")
            assert page.evaluate(UNLABELLED) == []
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.textContent") == "受理":
                    break
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/cases/c-1?done=accept&v=1**")
            w.sink()
            page.wait_for_selector("text=案件已更新", timeout=5000)  # the page reloads itself
            assert "办理中" in page.inner_text(".titlebar")
            sent = [env["data"] for _t, _k, env in w.publisher.sent]
            assert sent == [
                {
                    "case_id": "c-1",
                    "committee_id": A,
                    "version": 0,
                    "actor": w.accounts.account("li.ming").account_id,
                }
            ]
        finally:
            browser.close()


def test_a_case_reported_twice_shows_both_reports_to_its_committee() -> None:
    """Over the in-memory store: the first report in full, the repeat folded under the line
    that says how and when it also came in; a screenshot for a person to look at."""
    from datetime import timedelta

    from playwright.sync_api import sync_playwright

    from tests.casetools import PARTY_NAME, T0, dispute_report, item

    w = build()
    one_time = w.person("li.ming", "mediator", (A,))
    w.store.apply(
        [
            item(
                "intake.disputes",
                dispute_report("r-1", subject="c-1", source="walkin/yongzhong", channel="walkin"),
            ),
            item(
                "intake.disputes",
                dispute_report(
                    "r-2", subject="c-1", time=T0 + timedelta(days=2), summary="再次来电催办"
                ),
            ),
        ]
    )
    w.route(routed("c-1", A, category="neighbourhood"))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(w.app) as url, sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            first_login(page, url, "li.ming", one_time)
            page.wait_for_url(f"{url}/inbox?done=password")
            page.goto(f"{url}/cases/c-1")
            facts = page.locator('section[aria-labelledby="facts-h"]')
            assert PARTY_NAME in facts.inner_text()
            line = "另经 12348 热线于 2026-03-03 17:30 报告"
            assert not page.get_by_text("再次来电催办").is_visible()  # folded
            page.get_by_text(line).click()
            assert page.get_by_text("再次来电催办").is_visible()
            page.screenshot(path=str(ARTIFACTS / "workbench-case-reports.png"), full_page=True)
        finally:
            browser.close()
