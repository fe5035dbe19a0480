"""The case page's split and link forms in real headless Chromium over the in-memory store:
found by their labels, worked with the keyboard only, and what the page says next.
Screenshots land in test-artifacts/ for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.chromium import playwright_chromium
from tests.httptools import serve
from tests.linkactions import plant
from tests.real.test_workbench_browser import first_login
from tests.workbenchtools import A, B, build

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_a_mediator_splits_a_report_off_with_the_keyboard() -> None:
    from playwright.sync_api import sync_playwright

    w = build()
    plant(w.store, A, B)
    one_time = w.person("li.ming", "mediator", (A,))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(w.app) as url, sync_playwright() as p:
        browser = playwright_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            first_login(page, url, "li.ming", one_time)
            page.wait_for_url(f"{url}/inbox?done=password")
            page.goto(f"{url}/cases/c1")
            button = page.get_by_role("button", name="不是同一事项（拆分）")
            assert button.count() == 1 and button.is_visible()
            page.screenshot(path=str(ARTIFACTS / "workbench-case-unlink.png"), full_page=True)

            reason = page.get_by_label(re.compile("拆分理由"))
            # the reason is required: the browser does not send the form without it
            reason.focus()
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "不是同一事项（拆分）"
            page.keyboard.press("Enter")
            assert page.url == f"{url}/cases/c1" and w.publisher.sent == []
            reason.focus()
            page.keyboard.type("申请人不同，房屋也不同")
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/cases/c1?done=unlink")
            status = page.get_by_role("status").inner_text()
            assert "该报告将另立为一个案件，并按分流规则重新分派" in status
            [(_t, _k, env)] = w.publisher.sent
            assert env["data"]["report_id"] == "wk-8"
            assert env["data"]["reason"] == "申请人不同，房屋也不同"

            link_id = page.get_by_label("要关联的案件编号")
            link_id.fill("c2")
            page.get_by_label("关联理由（必填）").fill("同一漏水事项")
            page.get_by_role("button", name="关联到本案").click()
            page.wait_for_url(f"{url}/cases/c1?done=link")
            assert "另一案件将并入本案" in page.get_by_role("status").inner_text()
            page.screenshot(path=str(ARTIFACTS / "workbench-case-linked.png"), full_page=True)

            # opened with the keyboard, the linked report says its category as its own
            linked = page.locator("details.also-reported", has_text="窗口登记")
            linked.locator("summary").focus()
            page.keyboard.press("Enter")
            said = linked.locator("dt", has_text="报告所填类别")
            assert (
                said.is_visible()
                and said.locator("xpath=following-sibling::dd[1]").inner_text() == "邻里"
            )
            assert linked.locator("dt", has_text="纠纷类别").count() == 0
            page.screenshot(
                path=str(ARTIFACTS / "workbench-case-linked-report.png"), full_page=True
            )
        finally:
            browser.close()
