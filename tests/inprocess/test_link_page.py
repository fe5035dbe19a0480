"""The case page's "不是同一事项（拆分）" and "关联另一案件" forms, in process (memory store and
publisher, the real workbench app): labelled controls, CSRF, what the page says next,
refusals in Chinese, and which facts are the case's and which a linked report's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.casetools import dispute_report, item
from tests.linkactions import linked_env, plant
from tests.workbenchtools import A, B, World, build, form_value, log_in_and_choose


def _login(w: World, username: str, committees: tuple[str, ...] = (A,)) -> tuple[TestClient, str]:
    secret = w.person(username, "mediator", committees)
    c = w.client()
    return c, log_in_and_choose(c, username, secret)


def _pairs(html: str) -> list[tuple[str, str]]:
    """The (label, value) rows of every facts list in ``html``, in page order."""
    return re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html)


def _sections(page: str) -> tuple[str, list[str]]:
    """The case's facts list (with the opening report's rows in it) and, for each linked
    report, its facts and split form."""
    case_facts = re.findall(r'<dl class="facts">.*?</dl>', page, re.S)[0]
    section = page.split('<h2 id="facts-h">', 1)[1].split("</section>", 1)[0]
    also = section.split('<details class="also-reported">')[1:]
    return case_facts, also


def _by_report(also: list[str], report_id: str) -> dict[str, str]:
    """The facts of the linked report ``report_id``, found by its split form's hidden field."""
    [block] = [b for b in also if f'value="{report_id}"' in b]
    return dict(_pairs(block))


def _world() -> World:
    w = build()
    plant(w.store, A, B)
    return w


def test_a_linked_report_has_a_labelled_split_form_and_the_page_says_what_happens_next() -> None:
    w = _world()
    c, csrf = _login(w, "li.ming")
    page = c.get("/cases/c1").text
    [form] = re.findall(r'<form method="post" action="/cases/c1/unlink".*?</form>', page, re.S)
    assert 'name="report_id" value="wk-8"' in form and 'name="csrf_token"' in form
    label = re.search(r'<label for="([^"]+)">拆分理由（必填）', form)
    assert label and f'<textarea id="{label.group(1)}" name="reason"' in form
    assert "required" in form and "不是同一事项（拆分）</button>" in form
    assert "拆分后，这份报告将另立为一个案件" in form
    assert '<label for="other_case_id">要关联的案件编号</label>' in page

    # without the session's token: refused, nothing published
    r = c.post("/cases/c1/unlink", data={"report_id": "wk-8", "reason": "x", "version": "0"})
    assert r.status_code == 403 and w.publisher.sent == []

    data = {"csrf_token": csrf, "report_id": "wk-8", "reason": "不是同一套房", "version": "0"}
    r = c.post("/cases/c1/unlink", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/cases/c1?done=unlink"
    [(_t, key, env)] = w.publisher.sent
    assert key == "c1" and env["type"] == "case.unlinked.v1"
    assert env["data"]["actor"] == w.accounts.account("li.ming").account_id
    done = c.get(r.headers["location"]).text
    assert "已提交：拆分报告。" in done
    assert "该报告将另立为一个案件，并按分流规则重新分派" in done

    # the same form sent again after the store applied it: the page shows it done
    w.sink()
    r = c.post("/cases/c1/unlink", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/cases/c1?done=unlink"
    after = c.get("/cases/c1").text
    assert 'action="/cases/c1/unlink"' not in after  # no further report to split off
    assert "取消关联" in after and "不是同一套房" in after  # the history says it, with the reason


def test_a_report_that_is_not_linked_and_another_committee_are_refused_in_chinese() -> None:
    w = _world()
    c, csrf = _login(w, "li.ming")
    r = c.post(
        "/cases/c2/unlink",
        data={"csrf_token": csrf, "report_id": "wk-8", "reason": "x", "version": "0"},
    )
    assert r.status_code == 409 and "该报告未关联到此案件" in r.text
    r = c.post(
        "/cases/c1/unlink",
        data={"csrf_token": csrf, "report_id": "wk-8", "reason": " ", "version": "0"},
    )
    assert r.status_code == 422 and "拆分须填写理由" in r.text
    other, other_csrf = _login(w, "zhao.lei", (B,))
    r = other.post(
        "/cases/c1/unlink",
        data={"csrf_token": other_csrf, "report_id": "wk-8", "reason": "x", "version": "0"},
    )
    assert r.status_code == 403 and "该案件属于其他调解委员会" in r.text
    concluded = c.get("/cases/c4").text
    assert 'action="/cases/c4/link"' not in concluded  # a closed case offers no link
    assert w.publisher.sent == []


def test_linking_another_case_from_the_actions_panel() -> None:
    w = _world()
    c, csrf = _login(w, "li.ming")
    page = c.get("/cases/c1").text
    assert form_value(page, "csrf_token") == csrf
    r = c.post(
        "/cases/c1/link",
        data={"csrf_token": csrf, "other_case_id": " c3 ", "reason": "同一事项", "version": "0"},
    )
    assert r.status_code == 403 and "要关联的案件属于其他调解委员会" in r.text
    r = c.post(
        "/cases/c1/link",
        data={"csrf_token": csrf, "other_case_id": "c2", "reason": "同一事项", "version": "0"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases/c1?done=link"
    assert [env["data"]["report_id"] for _t, _k, env in w.publisher.sent] == ["c2"]
    assert "另一案件将并入本案" in c.get(r.headers["location"]).text
    en = c.get("/cases/c1?done=link&lang=en").text
    assert "Submitted: link the cases." in en and "The other case joins this one" in en


def test_a_case_linked_by_hand_is_separated_again_not_made_a_new_case() -> None:
    w = _world()
    c, csrf = _login(w, "li.ming")
    r = c.post(
        "/cases/c1/link",
        data={"csrf_token": csrf, "other_case_id": "c2", "reason": "同一事项", "version": "0"},
    )
    assert r.status_code == 303
    w.sink()
    page = c.get("/cases/c1").text
    [form] = re.findall(
        r'<form[^>]*action="/cases/c1/unlink"[^>]*>(?:(?!</form>).)*value="c2".*?</form>',
        page,
        re.S,
    )
    assert "拆分后，该案件与本案不再关联，各自办理。" in form
    assert "关联报告" in page and "同一事项" in page  # the history names the link and its reason
    r = c.post(
        "/cases/c1/unlink",
        data={"csrf_token": csrf, "report_id": "c2", "reason": "核实后不是", "version": "0"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases/c1?done=separate"
    assert "两案不再关联，各自办理" in c.get(r.headers["location"]).text
    assert [env["type"] for _t, _k, env in w.publisher.sent] == [
        "case.linked.v1",
        "case.unlinked.v1",
    ]


def test_a_linked_reports_category_and_street_are_labelled_as_what_the_report_said() -> None:
    w = _world()
    # a second report, from another street, joins c1 too
    other = dispute_report("hl-9", source="hotline/12345", summary="噪音扰民")
    other["data"].update(street="puzhou", community="puzhou-01")
    w.store.apply([item("intake.disputes", other, 3)])
    w.store.apply([item("cases.lifecycle", linked_env("c1", "hl-9", channel="hotline"), 7)])
    c, _csrf = _login(w, "li.ming")

    case_facts, also = _sections(c.get("/cases/c1").text)
    assert len(also) == 2
    rows = _pairs(case_facts)
    # the case's own rows keep their labels: its category is 合同, its street 永中街道
    assert [v for k, v in rows if k == "纠纷类别"] == ["合同"]
    assert [v for k, v in rows if k == "街道"] == ["永中街道"]
    # the opening report said 邻里: shown under the report's label, not the case's
    assert ("报告所填类别", "邻里") in rows
    for block in also:
        labels = dict(_pairs(block))
        assert labels["报告所填类别"] == "邻里"
        assert "纠纷类别" not in labels and "街道" not in labels and "类型" not in labels
    walkin, hotline = _by_report(also, "wk-8"), _by_report(also, "hl-9")
    assert "报告所填街道" not in walkin  # it came from the case's own street
    assert hotline["报告所填街道"] == "蒲州街道"

    case_facts, also = _sections(c.get("/cases/c1?lang=en").text)
    rows = _pairs(case_facts)
    assert [v for k, v in rows if k == "Category"] == ["contract"]
    assert ("Category given in the report", "neighbourhood") in rows
    assert _by_report(also, "hl-9")["Street given in the report"] == "Puzhou"
    assert _by_report(also, "wk-8")["Category given in the report"] == "neighbourhood"
