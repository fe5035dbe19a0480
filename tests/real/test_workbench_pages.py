"""The workbench's pages in process: the in-memory store, publisher and accounts behind the
real app, driven the way a browser drives it (forms, cookies, the CSRF token)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consumers.web.app import WorkbenchConfig
from tests.casetools import T0, incident, item, routed
from tests.workbenchtools import PASSWORD, A, B, World, build, form_value, log_in, log_in_and_choose


@pytest.fixture
def world() -> World:
    return build()


def lifecycle_sent(w: World) -> list[dict[str, Any]]:
    return [env for topic, _k, env in w.publisher.sent if topic == "cases.lifecycle"]


def mediator(
    w: World, username: str = "li.ming", role: str = "mediator", committees=(A,)
) -> tuple[TestClient, str]:
    secret = w.person(username, role, committees)
    c = w.client()
    return c, log_in_and_choose(c, username, secret)


# --- login and sessions ----------------------------------------------------------------------


def test_login_page_is_chinese_with_labelled_controls(world: World) -> None:
    page = world.client().get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    for field in ("username", "password"):
        assert f'<label for="{field}">' in page.text and f'id="{field}"' in page.text
    assert "English" in page.text
    en = world.client().get("/login?lang=en")
    assert "Log in" in en.text and '<html lang="en">' in en.text


def test_the_session_cookie_is_httponly_strict_and_secure_only_over_https(world: World) -> None:
    secret = world.person("li.ming")
    r = log_in(world.client(), "li.ming", secret)
    cookie = r.headers["set-cookie"]
    assert "fq_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie
    https = TestClient(world.app, base_url="https://testserver", follow_redirects=False)
    r = log_in(https, "li.ming", secret)
    assert "Secure" in r.headers["set-cookie"]


def test_forwarded_proto_is_believed_only_when_configured(world: World) -> None:
    secret = world.person("li.ming")
    proxied = {"X-Forwarded-Proto": "https"}
    c = TestClient(world.app, follow_redirects=False, headers=proxied)
    assert "Secure" not in log_in(c, "li.ming", secret).headers["set-cookie"]
    trusting = build(config=WorkbenchConfig(trust_forwarded_proto=True))
    secret = trusting.person("li.ming")
    c = TestClient(trusting.app, follow_redirects=False, headers=proxied)
    assert "Secure" in log_in(c, "li.ming", secret).headers["set-cookie"]


def test_failed_logins_behind_a_proxy_count_per_client_only_when_configured() -> None:
    for trusted, limited in ((False, True), (True, False)):
        w = build(config=WorkbenchConfig(trust_forwarded_for=trusted))
        secret = w.person("li.ming")
        for i in range(20):
            c = TestClient(w.app, headers={"X-Forwarded-For": f"10.1.0.{i}"})
            assert log_in(c, f"guess{i}", "wrong").status_code == 401
        c = TestClient(w.app, follow_redirects=False, headers={"X-Forwarded-For": "10.2.0.1"})
        r = log_in(c, "li.ming", secret)
        assert (r.status_code == 429) is limited


def test_first_login_must_choose_a_password_before_anything_else(world: World) -> None:
    secret = world.person("li.ming")
    c = world.client()
    r = log_in(c, "li.ming", secret)
    assert r.headers["location"] == "/password"
    for path in ("/", "/inbox", "/cases/x"):
        assert c.get(path).headers["location"] == "/password"
    page = c.get("/password")
    assert "请设置您自己的新密码" in page.text and "临时密码" in page.text
    assert 'href="/inbox"' not in page.text  # no way around it
    csrf = form_value(page.text, "csrf_token")
    bad = c.post(
        "/password",
        data={"csrf_token": csrf, "current": secret, "new": "short", "confirm": "short"},
    )
    assert bad.status_code == 422 and "至少需要 10 个字符" in bad.text
    ok = c.post(
        "/password",
        data={"csrf_token": csrf, "current": secret, "new": PASSWORD, "confirm": PASSWORD},
    )
    assert ok.status_code == 303
    assert c.get("/inbox").status_code == 200


def test_wrong_passwords_get_one_message_and_then_the_rate_limit(world: World) -> None:
    world.person("li.ming")
    c = world.client()
    for _ in range(5):
        r = log_in(c, "li.ming", "wrong-password")
        assert r.status_code == 401 and "用户名或密码不正确。" in r.text
    r = log_in(c, "li.ming", "wrong-password")
    assert r.status_code == 429 and "登录失败次数过多，请 15 分钟后再试。" in r.text


def test_login_without_the_form_nonce_is_refused(world: World) -> None:
    secret = world.person("li.ming")
    c = world.client()
    c.get("/login")
    r = c.post("/login", data={"username": "li.ming", "password": secret, "login_csrf": "forged"})
    assert r.status_code == 403 and "安全校验失败" in r.text
    assert "fq_session" not in r.headers.get("set-cookie", "")


def test_logout_ends_the_session_on_the_server(world: World) -> None:
    c, csrf = mediator(world)
    token = c.cookies["fq_session"]
    assert c.post("/logout", data={"csrf_token": csrf}).headers["location"] == "/login"
    replay = world.client()
    replay.cookies.set("fq_session", token)
    assert replay.get("/inbox").headers["location"].startswith("/login")


def test_a_disabled_account_is_logged_out_on_its_next_request(world: World) -> None:
    c, _ = mediator(world)
    assert c.get("/inbox").status_code == 200
    world.accounts.disable("li.ming")
    r = c.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    hx = {"HX-Request": "true", "HX-Current-URL": "http://testserver/inbox?view=mine"}
    poll = c.get("/inbox/rows?view=mine", headers=hx)
    assert poll.status_code == 401
    # to the page, not the poll, saying why
    assert poll.headers["HX-Redirect"] == "/login?next=%2Finbox%3Fview%3Dmine&ended=1"
    assert "登录已结束" in c.get(poll.headers["HX-Redirect"]).text


def test_polling_does_not_keep_an_idle_session_alive(world: World) -> None:
    c, _ = mediator(world)
    for _ in range(7):
        world.clock.advance(minutes=5)
        c.get("/inbox/rows", headers={"HX-Request": "true"})
    assert c.get("/inbox").headers["location"].startswith("/login")


def test_after_an_expired_session_the_login_leads_back_to_the_page(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    world.clock.advance(hours=1)
    r = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    assert r.headers["location"] == "/login?next=%2Fcases%2Fc1&ended=1"
    page = c.get(r.headers["location"])
    nonce = form_value(page.text, "login_csrf")
    assert 'name="next" value="/cases/c1"' in page.text
    back = c.post(
        "/login",
        data={
            "username": "li.ming",
            "password": PASSWORD,
            "login_csrf": nonce,
            "next": "/cases/c1",
        },
    )
    assert back.headers["location"] == "/cases/c1"
    assert world.publisher.sent == []  # the expired session's post did nothing


def test_the_next_page_after_login_is_never_another_site(world: World) -> None:
    secret = world.person("li.ming")
    c = world.client()
    log_in_and_choose(c, "li.ming", secret)
    c.post("/logout", data={"csrf_token": form_value(c.get("/inbox").text, "csrf_token")})
    page = c.get("/login?next=//evil.example/x")
    nonce = form_value(page.text, "login_csrf")
    r = c.post(
        "/login",
        data={
            "username": "li.ming",
            "password": PASSWORD,
            "login_csrf": nonce,
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/"


# --- the inbox -------------------------------------------------------------------------------


def test_the_inbox_shows_my_committees_cases_most_urgent_first(world: World) -> None:
    hours = timedelta(hours=1)
    world.route(
        routed("petition", A, kind="petition", category="land", time=T0 - 2 * hours),
        routed("dispute-late", A, time=T0),
        routed("dispute-soon", A, time=T0 - 5 * hours),
        routed("accepted", A, time=T0 - 9 * hours, deadline=T0 + timedelta(days=3)),
        routed("concluded", A, time=T0 - 30 * hours, deadline=T0 + hours),
        routed("theirs", B),
    )
    c, csrf = mediator(world)
    for version, action in enumerate(("accept", "conclude")):
        c.post(
            f"/cases/concluded/{action}",
            data={"csrf_token": csrf, "version": str(version), "outcome": "withdrawn"},
        )
        world.sink()
    c.post("/cases/accepted/accept", data={"csrf_token": csrf, "version": "0"})
    world.sink()
    page = c.get("/inbox").text
    assert "永中街道人民调解委员会" in page and "共 5 件" in page
    order = ["dispute-soon", "dispute-late", "accepted", "petition", "concluded"]
    at = [page.index(f'data-case-id="{i}"') for i in order]
    assert at == sorted(at)  # by the running clock: accept, then conclude; concluded last
    assert 'data-case-id="theirs"' not in page


def test_open_cases_come_first_even_behind_many_concluded_ones() -> None:
    world = build(config=WorkbenchConfig(page_size=3))
    many = [routed(f"old-{i:03d}", A, deadline=T0 + timedelta(hours=2)) for i in range(6)]
    world.route(*many, routed("open", A, deadline=T0 + timedelta(days=9)))
    c, csrf = mediator(world)
    for i in range(6):
        for version, action in enumerate(("accept", "conclude")):
            c.post(
                f"/cases/old-{i:03d}/{action}",
                data={"csrf_token": csrf, "version": str(version), "outcome": "withdrawn"},
            )
            world.sink()
    page = c.get("/inbox").text
    assert 'data-case-id="open"' in page and "共 7 件" in page and "显示前 3 件" in page


def test_a_case_opens_by_its_number(world: World) -> None:
    world.route(routed("hl/2026/7", A), routed("theirs", B))
    c, _ = mediator(world)
    assert 'id="find-case"' in c.get("/inbox").text
    r = c.get("/find?case_id=+hl/2026/7+")
    assert r.headers["location"] == "/cases/hl/2026/7"
    assert c.get(r.headers["location"]).status_code == 200
    assert c.get(c.get("/find?case_id=theirs").headers["location"]).status_code == 403
    assert c.get("/find?case_id=").headers["location"] == "/inbox"


def test_filters_by_status_kind_street_and_overdue(world: World) -> None:
    world.route(
        routed("d1", A, kind="dispute"),
        routed("w1", A, kind="wage_arrears", category="labor"),
        routed("old", A, deadline=T0 + timedelta(minutes=30)),
    )
    c, csrf = mediator(world)
    c.post("/cases/d1/accept", data={"csrf_token": csrf, "version": "0"})
    world.sink()

    def ids(query: str) -> set[str]:
        text = c.get(f"/inbox/rows?{query}").text
        return {i for i in ("d1", "w1", "old") if f'data-case-id="{i}"' in text}

    assert ids("") == {"d1", "w1", "old"}
    assert ids("status=accepted") == {"d1"}
    assert ids("kind=wage_arrears") == {"w1"}
    assert ids("street=yongzhong") == {"d1", "w1", "old"}
    assert ids("street=puzhou") == set()
    assert ids("overdue=1") == {"old"}
    assert ids("status=bogus&kind=<script>") == {"d1", "w1", "old"}  # unknown values: no filter
    switch = c.get("/inbox?view=mine&kind=dispute").text
    assert 'href="/inbox?view=mine&amp;kind=dispute&amp;lang=en"' in switch


def test_assigned_to_me_and_unassigned_views(world: World) -> None:
    world.route(routed("c1", A), routed("c2", A))
    head, csrf = mediator(world, "wang.fang", "head")
    me = world.accounts.account("wang.fang").account_id
    head.post("/cases/c1/assign", data={"csrf_token": csrf, "version": "0", "mediator_id": me})
    world.sink()
    mine = head.get("/inbox/rows?view=mine").text
    assert 'data-case-id="c1"' in mine and 'data-case-id="c2"' not in mine
    free = head.get("/inbox/rows?view=unassigned").text
    assert 'data-case-id="c2"' in free and 'data-case-id="c1"' not in free


def test_each_row_shows_its_sla_clock_colour(world: World) -> None:
    world.route(
        routed("fresh", A, time=world.clock.now - timedelta(hours=1)),
        routed("amber", A, time=world.clock.now - timedelta(hours=20)),
        routed("red", A, time=world.clock.now - timedelta(hours=25)),
    )
    c, _ = mediator(world)
    page = c.get("/inbox").text
    for case_id, colour in (("fresh", "green"), ("amber", "amber"), ("red", "red")):
        assert f'<tr class="sla-{colour}" data-case-id="{case_id}">' in page
    assert "剩 23 小时" in page and "超时 1 小时" in page


def test_the_inbox_polls_for_new_cases_and_a_new_case_appears(world: World) -> None:
    c, _ = mediator(world)
    page = c.get("/inbox").text
    assert 'hx-trigger="every 1s"' in page and 'hx-get="/inbox/rows' in page
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in page
    stamp = re.search(r"since=(\w+)", page)
    assert stamp is not None
    same = c.get(f"/inbox/rows?since={stamp.group(1)}", headers={"HX-Request": "true"})
    assert same.status_code == 204  # nothing new: no swap, the focus stays where it was
    world.route(routed("just-in", A))
    rows = c.get(f"/inbox/rows?since={stamp.group(1)}", headers={"HX-Request": "true"})
    assert rows.status_code == 200
    assert 'data-case-id="just-in"' in rows.text and "<html" not in rows.text


def test_pages_forbid_framing_and_foreign_content(world: World) -> None:
    for path in ("/login", "/healthz", "/static/workbench.css"):
        h = world.client().get(path).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"


def test_assets_are_served_locally(world: World) -> None:
    c = world.client()
    js = c.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text[:2000]
    assert c.get("/static/vendor/htmx-2.0.11/LICENSE").status_code == 200
    assert c.get("/static/workbench.css").status_code == 200
    page = c.get("/login").text
    assert "http://" not in page and "https://" not in page  # no CDN, no external asset


# --- the case page ---------------------------------------------------------------------------


def explained(case_id: str, committee: str = A) -> dict[str, Any]:
    """A routed event as the worker writes it, with its explanation (the real router)."""
    from streams.routing import load_router
    from tests.unit.test_routing import case

    c = case(case_id=case_id, event_id=case_id, street="yongzhong", category="family")
    decision = load_router().route(c)
    env = routed(case_id, committee)
    env["data"] = {**decision.routed_data(c), "committee_id": committee}
    return env


def test_the_case_page_explains_the_routing_in_chinese_and_english(world: World) -> None:
    world.route(explained("c1"))
    c, _ = mediator(world)
    page = c.get("/cases/c1").text
    assert "规则 family：婚姻家庭纠纷" in page
    assert "适用本规则，因为案件类型为矛盾纠纷，且纠纷类别为婚姻家庭。" in page
    assert "考虑过但未采用的规则" in page and "<code>unknown_jurisdiction</code>" in page
    assert "Rule family" not in page
    en = c.get("/cases/c1?lang=en").text
    assert 'href="/cases/c1?lang=zh"' in en and "中文" in en
    assert "Alternatives considered" in en
    assert "It applies because it is a dispute and the category is family." in en
    assert "婚姻家庭纠纷：" not in en


def test_a_case_without_an_explanation_shows_the_stored_reasons(world: World) -> None:
    world.route(routed("c1", A))
    c, _ = mediator(world)
    page = c.get("/cases/c1").text
    assert "Test rule: every case goes to yongzhong-street." in page
    assert "not a family dispute" in page


def test_the_case_page_shows_incident_and_sla_alerts(world: World) -> None:
    world.route(routed("c1", A))
    world.store.apply([item("incidents", incident("inc-1", ["c1", "c9"], 12))])
    c, _ = mediator(world)
    page = c.get("/cases/c1").text
    assert "同一用人单位集体欠薪" in page and "涉及 12 人" in page and "2 件案件" in page


def test_accept_assign_conclude_with_the_history_naming_the_person(world: World) -> None:
    world.route(routed("c1", A))
    world.accounts.create("zhao.lei", "mediator", [A], display_name="赵磊")
    c, csrf = mediator(world, "wang.fang", "head")
    me = world.accounts.account("wang.fang").account_id
    zhao = world.accounts.account("zhao.lei").account_id

    r = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    assert r.status_code == 303 and r.headers["location"] == "/cases/c1?done=accept&v=1"
    pending = c.get(r.headers["location"]).text
    assert "已提交：受理。正在更新案件状态" in pending and 'http-equiv="refresh"' in pending
    world.sink()
    assert "已提交：受理。案件已更新。" in c.get(r.headers["location"]).text
    page = c.get("/cases/c1").text
    assert 'http-equiv="refresh"' not in page
    assert '<option value="' + zhao + '">赵磊</option>' in page
    c.post("/cases/c1/assign", data={"csrf_token": csrf, "version": "1", "mediator_id": zhao})
    world.sink()
    c.post(
        "/cases/c1/conclude",
        data={
            "csrf_token": csrf,
            "version": "2",
            "outcome": "agreement",
            "agreed_amount_yuan": "12000.50",
        },
    )
    world.sink()
    case = world.store.get_case("c1")
    assert case is not None and case.status == "concluded" and case.assignee == zhao
    assert case.state.agreed_amount_yuan == "12000.50"
    events = lifecycle_sent(world)
    assert [e["data"]["actor"] for e in events] == [me, me, me]
    assert "wang" not in str([e["data"] for e in events])  # ids, never names
    page = c.get("/cases/c1").text
    assert page.count(me) >= 3 and "wang.fang" in page and "分派给 赵磊" in page
    assert "达成协议" in page and "12000.50 元" in page
    assert "此案件已办结，不能再办理。" in page


def test_the_page_stops_waiting_when_the_sink_refused_the_action(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    head, csrf2 = mediator(world, "wang.fang", "head")
    r = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    # Before the sink applies the accept, an assignment made on the same version is applied.
    accept = world.publisher.sent.pop()
    me = world.accounts.account("wang.fang").account_id
    head.post("/cases/c1/assign", data={"csrf_token": csrf2, "version": "0", "mediator_id": me})
    world.sink()
    world.publisher.sent.append(accept)
    world.sink()  # the accept arrives second: kept in the history, not applied
    page = c.get(r.headers["location"]).text
    assert 'http-equiv="refresh"' not in page
    assert "案件库未执行此操作：the case changed since the action was made" in page
    assert "已提交" not in page


def test_the_page_waits_a_while_for_the_sink_then_says_so(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    r = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    first = c.get(r.headers["location"]).text
    assert 'content="1; url=/cases/c1?done=accept&amp;v=1&amp;n=1"' in first
    late = c.get("/cases/c1?done=accept&v=1&n=30").text
    assert 'http-equiv="refresh"' not in late and "案件库尚未更新" in late


def test_submitting_the_same_form_twice_applies_once(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    first = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    second = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    assert first.status_code == second.status_code == 303
    world.sink()
    third = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})  # after the sink
    assert third.status_code == 303
    ids = {e["id"] for e in lifecycle_sent(world)}
    assert ids == {"c1/accepted/0"}
    assert world.store.get_case("c1").state.version == 1  # type: ignore[union-attr]


def test_an_action_the_case_no_longer_allows_shows_a_message(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    other, csrf2 = mediator(world, "zhao.lei")
    other.post(
        "/cases/c1/transfer",
        data={
            "csrf_token": csrf2,
            "version": "0",
            "to_committee_id": B,
            "reason": "属蒲州街道管辖",
        },
    )
    world.sink()
    r = c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    assert r.status_code in (403, 409)
    assert "该案件属于其他调解委员会" in r.text or "案件已有变化" in r.text
    assert len(lifecycle_sent(world)) == 1


def test_a_stale_form_is_refused_with_a_clear_message(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    world.sink()
    r = c.post(
        "/cases/c1/conclude", data={"csrf_token": csrf, "version": "0", "outcome": "withdrawn"}
    )
    assert r.status_code == 409 and "请刷新后重试" in r.text
    assert len(lifecycle_sent(world)) == 1


def test_transfer_needs_a_reason_and_a_catalogue_committee(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    r = c.post(
        "/cases/c1/transfer",
        data={"csrf_token": csrf, "version": "0", "to_committee_id": B, "reason": "  "},
    )
    assert r.status_code == 422 and "转办须填写理由" in r.text
    r = c.post(
        "/cases/c1/transfer",
        data={"csrf_token": csrf, "version": "0", "to_committee_id": "mars", "reason": "x"},
    )
    assert r.status_code == 422 and "目录中没有这个调解委员会" in r.text
    assert lifecycle_sent(world) == []
    page = c.get("/cases/c1").text
    assert '<option value="puzhou-street">蒲州街道人民调解委员会</option>' in page
    assert f'<option value="{A}">' not in page  # not to itself


def test_only_a_head_can_assign(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    me = world.accounts.account("li.ming").account_id
    assert 'action="/cases/c1/assign"' not in c.get("/cases/c1").text
    r = c.post("/cases/c1/assign", data={"csrf_token": csrf, "version": "0", "mediator_id": me})
    assert r.status_code == 403 and "只有调委会主任可以分派案件" in r.text
    assert lifecycle_sent(world) == []


def test_a_head_cannot_assign_to_someone_outside_the_committee(world: World) -> None:
    world.route(routed("c1", A))
    world.accounts.create("zhao.lei", "mediator", [B])
    c, csrf = mediator(world, "wang.fang", "head")
    outsider = world.accounts.account("zhao.lei").account_id
    r = c.post(
        "/cases/c1/assign", data={"csrf_token": csrf, "version": "0", "mediator_id": outsider}
    )
    assert r.status_code == 422 and "该调解员不属于承办此案件的调解委员会" in r.text


def test_another_committee_neither_sees_nor_acts_on_the_case(world: World) -> None:
    world.route(routed("a-case", A))
    b, csrf = mediator(world, "zhao.lei", committees=(B,))
    assert "a-case" not in b.get("/inbox").text
    assert "a-case" not in b.get("/inbox/rows?status=new").text
    page = b.get("/cases/a-case")
    assert page.status_code == 403 and "该案件属于其他调解委员会" in page.text
    assert "Test rule" not in page.text
    for action, extra in (
        ("accept", {}),
        ("conclude", {"outcome": "withdrawn"}),
        ("transfer", {"to_committee_id": B, "reason": "x"}),
    ):
        r = b.post(f"/cases/a-case/{action}", data={"csrf_token": csrf, "version": "0", **extra})
        assert r.status_code == 403
    assert b.get("/cases/no-such-case").status_code == 404
    assert lifecycle_sent(world) == []


def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    r = c.post("/cases/c1/accept", data={"version": "0"})
    assert r.status_code == 403 and "安全校验失败" in r.text
    r = c.post("/cases/c1/accept", data={"version": "0", "csrf_token": csrf[:-1] + "x"})
    assert r.status_code == 403
    assert c.post("/logout").status_code == 403
    ok = c.post("/cases/c1/accept", data={"version": "0"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 303  # the header htmx sends is accepted too
    assert len(lifecycle_sent(world)) == 1


def test_a_command_account_sees_counts_but_no_cases(world: World) -> None:
    world.route(routed("hl-case-0001", A), routed("hl-case-0002", B))
    world.accounts.create("li.ming", "mediator", [A], display_name="李明")
    secret = world.person("zhihui", "command", ())
    c = world.client()
    log_in_and_choose(c, "zhihui", secret)
    assert c.get("/").headers["location"] == "/overview"
    page = c.get("/overview").text
    assert "永中街道人民调解委员会" in page and "蒲州街道人民调解委员会" in page
    assert "李明" not in page and "li.ming" not in page and "hl-case" not in page
    assert c.get("/inbox").status_code == 403
    assert c.get("/cases/hl-case-0001").status_code == 403


def test_a_mediator_cannot_open_the_overview(world: World) -> None:
    c, _ = mediator(world)
    assert c.get("/overview").status_code == 403


def test_command_accounts_get_a_link_to_the_dashboard() -> None:
    w = build(config=WorkbenchConfig(dashboard_url="http://127.0.0.1:9464/dashboard"))
    secret = w.person("zhihui", "command", ())
    c = w.client()
    log_in_and_choose(c, "zhihui", secret)
    assert '<a href="http://127.0.0.1:9464/dashboard">指挥中心大屏</a>' in c.get("/overview").text
    m, _ = mediator(w)
    assert "指挥中心大屏" not in m.get("/inbox").text


def test_health_and_readiness(world: World) -> None:
    c = world.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"status": "ok"}
    world.publisher.fail = True
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"


def test_a_transferred_case_moves_to_the_other_committees_inbox(world: World) -> None:
    world.route(routed("c1", A))
    a, csrf = mediator(world)
    b, _ = mediator(world, "zhao.lei", committees=(B,))
    r = a.post(
        "/cases/c1/transfer",
        data={"csrf_token": csrf, "version": "0", "to_committee_id": B, "reason": "属蒲州街道管辖"},
    )
    assert r.status_code == 303
    world.sink()
    assert 'data-case-id="c1"' not in a.get("/inbox").text
    assert 'data-case-id="c1"' in b.get("/inbox").text
    page = b.get("/cases/c1").text
    assert "转办" in page and "→ 蒲州街道人民调解委员会" in page and "属蒲州街道管辖" in page
    assert "li.ming" not in page  # A's people are not B's to know: the id stays, no name
    assert world.accounts.account("li.ming").account_id in page


def test_conclude_refuses_a_bad_amount_naming_the_field(world: World) -> None:
    world.route(routed("c1", A))
    c, csrf = mediator(world)
    c.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    world.sink()
    bad = {"csrf_token": csrf, "version": "1", "outcome": "agreement"}
    r = c.post("/cases/c1/conclude", data={**bad, "agreed_amount_yuan": "一万"})
    assert r.status_code == 422 and "agreed_amount_yuan" in r.text and "一万" not in r.text
    r = c.post(
        "/cases/c1/conclude", data={**bad, "outcome": "withdrawn", "agreed_amount_yuan": "100"}
    )
    assert r.status_code == 422 and "只有达成协议时才填写协议金额" in r.text
    r = c.post("/cases/c1/conclude", data={**bad, "outcome": "settled"})
    assert r.status_code == 422 and "outcome" in r.text
    assert len(lifecycle_sent(world)) == 1


# --- account administration ------------------------------------------------------------------


def admin_client(w: World) -> tuple[TestClient, str]:
    secret = w.person("guanli", "admin", ())
    c = w.client()
    return c, log_in_and_choose(c, "guanli", secret)


def test_an_admin_creates_an_account_and_its_person_logs_in(world: World) -> None:
    c, csrf = admin_client(world)
    assert c.get("/").headers["location"] == "/admin"
    r = c.post(
        "/admin/accounts",
        data={
            "csrf_token": csrf,
            "username": "zhou.min",
            "display_name": "周敏",
            "role": "mediator",
            "committee": A,
        },
    )
    assert r.status_code == 200 and "已创建账号 zhou.min。" in r.text
    secret = re.search(r'<code class="secret">(\w+)</code>', r.text)
    assert secret is not None
    assert "调解员 · 永中街道人民调解委员会" in r.text and "待首次登录改密" in r.text
    again = c.get("/admin").text
    assert secret.group(1) not in again  # shown once
    person = world.client()
    log_in_and_choose(person, "zhou.min", secret.group(1))
    assert person.get("/inbox").status_code == 200


def test_admin_errors_are_in_chinese_and_name_no_password(world: World) -> None:
    c, csrf = admin_client(world)
    base = {"csrf_token": csrf, "username": "zhou.min", "role": "mediator"}
    r = c.post("/admin/accounts", data=base)
    assert r.status_code == 422 and "调解员和调委会主任须选择所属调委会。" in r.text
    r = c.post("/admin/accounts", data={**base, "committee": "atlantis"})
    assert r.status_code == 422 and "目录中没有这个调委会。" in r.text
    r = c.post("/admin/accounts", data={**base, "username": "周敏", "committee": A})
    assert r.status_code == 422 and "用户名为 2–64 个字符" in r.text
    r = c.post("/admin/accounts", data={**base, "role": "command", "committee": A})
    assert r.status_code == 422 and "不属于某个调委会" in r.text
    r = c.post("/admin/accounts", data={**base, "username": "guanli", "role": "admin"})
    assert r.status_code == 422 and "该用户名已被使用。" in r.text
    r = c.post("/admin/accounts", data={**base, "committee": A})  # once right, created
    assert r.status_code == 200 and "已创建账号 zhou.min。" in r.text
    r = c.post("/admin/accounts", data={"username": "x1", "role": "admin"})  # no token
    assert r.status_code == 403 and "安全校验失败" in r.text


def test_an_admin_disables_enables_and_resets(world: World) -> None:
    person, _ = mediator(world)
    c, csrf = admin_client(world)
    r = c.post("/admin/accounts/li.ming/disable", data={"csrf_token": csrf})
    assert "已停用 li.ming，其登录已全部结束。" in r.text
    assert person.get("/inbox").headers["location"].startswith("/login")
    assert (
        "已启用 li.ming。"
        in c.post("/admin/accounts/li.ming/enable", data={"csrf_token": csrf}).text
    )
    r = c.post("/admin/accounts/li.ming/reset", data={"csrf_token": csrf})
    secret = re.search(r'<code class="secret">(\w+)</code>', r.text)
    assert secret is not None and "已重置 li.ming 的密码。" in r.text
    assert log_in(world.client(), "li.ming", PASSWORD).status_code == 401
    assert log_in(world.client(), "li.ming", secret.group(1)).headers["location"] == "/password"
    r = c.post("/admin/accounts/guanli/disable", data={"csrf_token": csrf})
    assert r.status_code == 409 and "不能停用自己的账号。" in r.text
    r = c.post("/admin/accounts/nobody/reset", data={"csrf_token": csrf})
    assert r.status_code == 404 and "没有这个账号。" in r.text


def test_only_admins_reach_account_administration(world: World) -> None:
    c, csrf = mediator(world, "wang.fang", "head")
    assert c.get("/admin").status_code == 403
    r = c.post("/admin/accounts/wang.fang/reset", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert "/admin" not in c.get("/inbox").text


# --- the same pages over the SQL stores ------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_world(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'cases.db'}"
    )
    w = build(sql_url=url)
    try:
        yield w
    finally:
        w.store.close()


def test_the_inbox_and_a_case_over_the_sql_stores(sql_world: World) -> None:
    w = sql_world
    w.route(
        routed("c1", A, kind="wage_arrears", category="labor"),
        routed("c2", A),
        routed("c3", B),
    )
    head, csrf = mediator(w, "wang.fang", "head", committees=(A, B))
    me = w.accounts.account("wang.fang").account_id
    page = head.get("/inbox").text
    assert all(f'data-case-id="{c}"' in page for c in ("c1", "c2", "c3"))
    assert "承办调委会" in page  # two committees: the column says whose
    head.post("/cases/c1/accept", data={"csrf_token": csrf, "version": "0"})
    w.sink()
    head.post("/cases/c1/assign", data={"csrf_token": csrf, "version": "1", "mediator_id": me})
    w.sink()

    def ids(query: str) -> set[str]:
        text = head.get(f"/inbox/rows?{query}").text
        return {c for c in ("c1", "c2", "c3") if f'data-case-id="{c}"' in text}

    assert ids("view=mine") == {"c1"}
    assert ids("view=unassigned") == {"c2", "c3"}
    assert ids("kind=wage_arrears&status=accepted") == {"c1"}
    assert ids("street=yongzhong") == {"c1", "c2", "c3"}
    case = head.get("/cases/c1").text
    assert case.count(me) >= 2 and "分派给 wang.fang" in case
    stored = w.store.get_case("c1")
    assert stored is not None and stored.assignee == me and stored.status == "accepted"
