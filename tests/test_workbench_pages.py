"""The workbench's pages in process: the in-memory store, publisher and accounts behind the
real app, driven the way a browser drives it (forms, cookies, the CSRF token)."""

from __future__ import annotations

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


def test_first_login_must_choose_a_password_before_anything_else(world: World) -> None:
    secret = world.person("li.ming")
    c = world.client()
    r = log_in(c, "li.ming", secret)
    assert r.headers["location"] == "/password"
    for path in ("/", "/inbox", "/cases/x"):
        assert c.get(path).headers["location"] == "/password"
    page = c.get("/password")
    assert "请设置您自己的新密码" in page.text
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
    poll = c.get("/inbox/rows", headers={"HX-Request": "true"})
    assert poll.status_code == 401 and poll.headers["HX-Redirect"].startswith("/login")


def test_polling_does_not_keep_an_idle_session_alive(world: World) -> None:
    c, _ = mediator(world)
    for _ in range(7):
        world.clock.advance(minutes=5)
        c.get("/inbox/rows", headers={"HX-Request": "true"})
    assert c.get("/inbox").headers["location"].startswith("/login")


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


def test_the_inbox_shows_my_committees_cases_soonest_deadline_first(world: World) -> None:
    world.route(
        routed("late", A, deadline=T0 + timedelta(days=20)),
        routed("soon", A, deadline=T0 + timedelta(days=2)),
        routed("theirs", B),
    )
    c, _ = mediator(world)
    page = c.get("/inbox").text
    assert "永中街道人民调解委员会" in page and "共 2 件" in page
    assert page.index('data-case-id="soon"') < page.index('data-case-id="late"')
    assert 'data-case-id="theirs"' not in page


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
    world.route(routed("just-in", A))
    rows = c.get("/inbox/rows", headers={"HX-Request": "true"}).text
    assert 'data-case-id="just-in"' in rows and "<html" not in rows


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
    from tests.test_routing import case

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


def test_health_and_readiness(world: World) -> None:
    c = world.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"ready": True}
