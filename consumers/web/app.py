"""The workbench app: login, password change, inbox, case page and the actions on a case.

Sessions are server-side records (``consumers.accounts``); the cookie holds only a random
token and is HttpOnly, SameSite=Strict, and Secure whenever the page is served over HTTPS.
Every POST carries the session's CSRF token (a form field, or the ``X-CSRF-Token`` header
htmx sends); the login form, which has no session yet, carries a nonce that must match a
signed cookie (itsdangerous). Actions go through ``CaseActions``, the inbox API's service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from consumers import casefile
from consumers.accounts.model import (
    ROLE_LABELS_EN,
    ROLE_LABELS_ZH,
    ROLES,
    Account,
    AccountError,
    SessionRecord,
)
from consumers.accounts.service import Accounts, LoginRefused, PasswordRefused
from consumers.actions import ActionError, CaseActions
from consumers.casefile import STATUSES
from consumers.reports import linked_report_ids
from consumers.store import CaseQuery, CaseRecord, CaseStore
from consumers.web import i18n, views
from schemas.reference.catalogue import Catalogue

HERE = Path(__file__).parent
SESSION_COOKIE = "fq_session"
CASE_ACTIONS = ("accept", "assign", "transfer", "conclude")
# Actions on which reports make the case: they change no case version.
LINK_ACTIONS = ("unlink", "link")
SEPARATE = "separate"  # what an unlink of a case linked by hand is called on the page
PENDING_RELOADS = 30  # a just-submitted action is waited for this many seconds
LOGIN_COOKIE = "fq_login"
LANG_COOKIE = "fq_lang"
Clock = Callable[[], datetime]
# Everything the pages load comes from this site; no page may be framed (clickjacking) and
# no inline script runs.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

DEFAULT_ACCEPT = {
    "dispute": timedelta(days=1),
    "petition": timedelta(days=15),
    "wage_arrears": timedelta(days=1),
}


@dataclass(frozen=True)
class WorkbenchConfig:
    poll_seconds: float = 3.0
    trust_forwarded_proto: bool = False
    trust_forwarded_for: bool = False
    accept_periods: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_ACCEPT))
    warn_fraction: float = 0.8
    utc_offset_hours: float = 8.0
    min_password_length: int = 10
    dashboard_url: str | None = None  # the command-center dashboard, linked for its roles
    page_size: int = 200  # inbox rows shown; the count says how many more there are
    # Signs the login form's cookie; a fresh one per process is fine (a login form older
    # than a restart is simply shown again).
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass(frozen=True)
class Who:
    account: Account
    session: SessionRecord
    token: str


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


class _Page(Exception):
    """Stop and show a message page with this status."""

    def __init__(self, status: int, key: str | None = None, text: str | None = None) -> None:
        self.status, self.key, self.text = status, key, text


def create_workbench(
    *,
    store: CaseStore,
    actions: CaseActions,
    accounts: Accounts,
    catalogue: Catalogue,
    clock: Clock,
    config: WorkbenchConfig | None = None,
) -> FastAPI:
    cfg = config or WorkbenchConfig()
    app = FastAPI(
        title="Fengqiao mediator workbench", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    templates = Jinja2Templates(directory=HERE / "templates")
    signer = URLSafeTimedSerializer(cfg.secret, salt="fengqiao-login")
    streets = sorted(catalogue.streets.values(), key=lambda s: s.code)

    # --- request helpers ----------------------------------------------------------------

    def lang_of(request: Request) -> str:
        q = request.query_params.get("lang")
        if q in i18n.LANGS:
            return str(q)
        c = request.cookies.get(LANG_COOKIE)
        return c if c in i18n.LANGS else "zh"

    def https(request: Request) -> bool:
        if cfg.trust_forwarded_proto:
            proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
            if proto:
                return proto == "https"
        return request.url.scheme == "https"

    def display(lang: str) -> views.Display:
        return views.Display(
            lang,
            catalogue,
            timedelta(hours=cfg.utc_offset_hours),
            cfg.accept_periods,
            cfg.warn_fraction,
        )

    def who(request: Request, touch: bool = True, allow_must_change: bool = False) -> Who:
        token = request.cookies.get(SESSION_COOKIE)
        found = accounts.resolve(token, touch=touch)
        if found is None or token is None:
            nxt = _back_to(request)
            params = {"next": nxt} if nxt != "/" else {}
            if token:  # there was a session: it expired, or the account was disabled
                params["ended"] = "1"
            raise _Redirect("/login" + (f"?{urlencode(params)}" if params else ""))
        acc, rec = found
        if acc.must_change_password and not allow_must_change:
            raise _Redirect("/password")
        return Who(acc, rec, token)

    def check_csrf(request: Request, form: Mapping[str, Any], w: Who) -> None:
        sent = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
        if not isinstance(sent, str) or not hmac.compare_digest(sent, w.session.csrf_token):
            raise _Page(403, "csrf")

    def names_for(committee_id: str) -> dict[str, str]:
        """What colleagues see for the committee's members: display name, else username."""
        return {a.account_id: a.display_name or a.username for a in accounts.members(committee_id)}

    def render(
        request: Request,
        template: str,
        ctx: dict[str, Any],
        w: Who | None = None,
        status: int = 200,
    ) -> Response:
        lang = lang_of(request)
        roles = ROLE_LABELS_EN if lang == "en" else ROLE_LABELS_ZH
        base = {
            "request": request,
            "lang": lang,
            "t": i18n.translator(lang),
            "me": w.account if w else None,
            "my_roles": sorted({roles[g.role] for g in w.account.grants}) if w else [],
            "csrf": w.session.csrf_token if w else "",
            "poll_seconds": cfg.poll_seconds,
            "other_lang": "en" if lang == "zh" else "zh",
            "lang_url": _lang_url(request, "en" if lang == "zh" else "zh"),
            "path": request.url.path,
            "dashboard_url": cfg.dashboard_url,
        }
        resp = templates.TemplateResponse(request, template, {**base, **ctx}, status_code=status)
        resp.headers["Cache-Control"] = "no-store"
        if request.query_params.get("lang") in i18n.LANGS:
            resp.set_cookie(
                LANG_COOKIE, lang, samesite="strict", httponly=True, secure=https(request)
            )
        return resp

    def message(
        request: Request, status: int, key: str | None, text: str | None = None
    ) -> Response:
        try:
            w: Who | None = who(request, touch=False, allow_must_change=True)
        except _Redirect:
            w = None
        title = {403: "title_forbidden", 404: "title_not_found"}.get(status, "refused")
        return render(
            request, "message.html", {"key": key, "text": text, "title": title}, w, status
        )

    @app.exception_handler(_Redirect)
    async def _redirect(request: Request, exc: _Redirect) -> Response:
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load (a poll after the session ended)
            return Response(status_code=401, headers={"HX-Redirect": exc.to})
        return RedirectResponse(exc.to, status_code=303)

    @app.exception_handler(_Page)
    async def _page(request: Request, exc: _Page) -> Response:
        return message(request, exc.status, exc.key, exc.text)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        return message(request, 404, "not_found")

    # --- health -------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        """Ready when the case store answers and the publisher reaches the broker."""
        try:
            store.ping()
        except Exception as err:  # noqa: BLE001 - any failure means "not ready", said why
            reason = f"the case store does not answer ({type(err).__name__})"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        why = actions.publisher.ready()
        if why is not None:
            return JSONResponse({"status": "unavailable", "reason": why}, status_code=503)
        return JSONResponse({"status": "ok"})

    # --- login, logout, password --------------------------------------------------------

    def login_page(
        request: Request, error: str | None = None, status: int = 200, username: str = ""
    ) -> Response:
        nonce = secrets.token_urlsafe(16)
        resp = render(
            request,
            "login.html",
            {
                "error": error,
                "nonce": nonce,
                "username": username,
                "next": _safe_next(request.query_params.get("next")),
                "ended": request.query_params.get("ended") == "1" and error is None,
            },
            None,
            status,
        )
        resp.set_cookie(
            LOGIN_COOKIE,
            signer.dumps(nonce),
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=https(request),
        )
        return resp

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if accounts.resolve(request.cookies.get(SESSION_COOKIE), touch=False) is not None:
            return RedirectResponse("/", status_code=303)
        return login_page(request)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        lang = lang_of(request)
        t = i18n.translator(lang)
        username = str(form.get("username") or "")
        nonce = str(form.get("login_csrf") or "")
        try:
            signed = signer.loads(request.cookies.get(LOGIN_COOKIE, ""), max_age=3600)
        except BadSignature:
            signed = None
        if not nonce or not isinstance(signed, str) or not hmac.compare_digest(signed, nonce):
            return login_page(request, t("csrf"), 403, username)
        address = _client_address(request, cfg.trust_forwarded_for)
        try:
            acc = accounts.authenticate(username, str(form.get("password") or ""), address)
        except LoginRefused as err:
            return login_page(request, err.message(lang), err.status, username)
        token, _rec = accounts.start_session(acc)
        to = (
            "/password"
            if acc.must_change_password
            else _safe_next(str(form.get("next") or "")) or "/"
        )
        resp = RedirectResponse(to, status_code=303)
        resp.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="strict", secure=https(request), path="/"
        )
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        w = who(request, allow_must_change=True)
        check_csrf(request, await request.form(), w)
        accounts.end_session(w.token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/password", response_class=HTMLResponse)
    def password_form(request: Request) -> Response:
        w = who(request, allow_must_change=True)
        return render(request, "password.html", {"error": None, "min": cfg.min_password_length}, w)

    @app.post("/password", response_class=HTMLResponse)
    async def password(request: Request) -> Response:
        w = who(request, allow_must_change=True)
        form = await request.form()
        check_csrf(request, form, w)
        try:
            accounts.change_password(
                w.account,
                str(form.get("current") or ""),
                str(form.get("new") or ""),
                str(form.get("confirm") or ""),
                keep_session=w.session.session_hash,
            )
        except PasswordRefused as err:
            ctx = {"error": err.message(lang_of(request)), "min": cfg.min_password_length}
            return render(request, "password.html", ctx, w, 422)
        return RedirectResponse("/?done=password", status_code=303)

    # --- account administration (admin) ------------------------------------------------

    def admin_page(
        request: Request,
        w: Who,
        notice: str | None = None,
        secret: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        lang = lang_of(request)
        labels = ROLE_LABELS_EN if lang == "en" else ROLE_LABELS_ZH
        d = display(lang)
        rows = [
            {
                "username": a.username,
                "name": a.display_name or "",
                "account_id": a.account_id,
                "roles": [
                    labels[g.role] + (f" · {d.committee(g.committee_id)}" if g.committee_id else "")
                    for g in a.grants
                ],
                "disabled": a.disabled,
                "must_change": a.must_change_password,
                "me": a.account_id == w.account.account_id,
            }
            for a in accounts.store.list_accounts()
        ]
        ctx = {
            "rows": rows,
            "roles": [(r, labels[r]) for r in ROLES],
            "committee_groups": views.transfer_choices("", d),
            "notice": notice,
            "secret": secret,
            "error": error,
        }
        return render(request, "admin.html", ctx, w, status)

    def admin(request: Request) -> Who:
        w = who(request)
        if not w.account.is_admin:
            raise _Page(403, "forbidden")
        return w

    @app.get("/admin", response_class=HTMLResponse)
    def admin_accounts(request: Request) -> Response:
        return admin_page(request, admin(request))

    @app.post("/admin/accounts", response_class=HTMLResponse)
    async def admin_create(request: Request) -> Response:
        w = admin(request)
        form = await request.form()
        check_csrf(request, form, w)
        t = i18n.translator(lang_of(request))
        committee = str(form.get("committee") or "")
        try:
            acc, secret = accounts.create(
                str(form.get("username") or ""),
                str(form.get("role") or ""),
                [committee] if committee else (),
                str(form.get("display_name") or "") or None,
            )
        except AccountError as err:
            return admin_page(request, w, error=err.message(lang_of(request)), status=422)
        return admin_page(request, w, t("admin_created", user=acc.username), secret)

    @app.post("/admin/accounts/{username}/{op}", response_class=HTMLResponse)
    async def admin_change(request: Request, username: str, op: str) -> Response:
        w = admin(request)
        form = await request.form()
        check_csrf(request, form, w)
        t = i18n.translator(lang_of(request))
        try:
            if op == "disable":
                if accounts.account(username).account_id == w.account.account_id:
                    return admin_page(request, w, error=t("admin_not_self"), status=409)
                accounts.disable(username)
                return admin_page(request, w, t("admin_disabled", user=username))
            if op == "enable":
                accounts.enable(username)
                return admin_page(request, w, t("admin_enabled", user=username))
            if op == "reset":
                secret = accounts.reset_password(username)
                return admin_page(request, w, t("admin_reset", user=username), secret)
        except AccountError as err:
            return admin_page(request, w, error=err.message(lang_of(request)), status=404)
        raise _Page(404, "not_found")

    # --- home, overview -----------------------------------------------------------------

    @app.get("/")
    def home(request: Request) -> Response:
        w = who(request)
        done = "?done=password" if request.query_params.get("done") == "password" else ""
        if w.account.works_cases:
            return RedirectResponse("/inbox" + done, status_code=303)
        if w.account.is_command:
            return RedirectResponse("/overview" + done, status_code=303)
        if w.account.is_admin:
            return RedirectResponse("/admin" + done, status_code=303)
        raise _Page(403, "forbidden")

    @app.get("/overview", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        """Counts per committee: the command center's (and admins') view, no personal data."""
        w = who(request)
        if not (w.account.is_command or w.account.is_admin):
            raise _Page(403, "forbidden")
        now = clock()
        rows = []
        for c in sorted(catalogue.committees.values(), key=lambda c: (c.tier != "district", c.id)):
            n_new = store.list_cases(c.id, CaseQuery(status="new", limit=1), now).total
            n_acc = store.list_cases(c.id, CaseQuery(status="accepted", limit=1), now).total
            late = store.list_cases(c.id, CaseQuery(overdue=True, limit=1), now).total
            done = store.list_cases(c.id, CaseQuery(status="concluded", limit=1), now).total
            if n_new or n_acc or late or done:
                rows.append(
                    {"name": c.name, "new": n_new, "accepted": n_acc, "overdue": late, "done": done}
                )
        return render(
            request, "overview.html", {"rows": rows, "done": request.query_params.get("done")}, w
        )

    # --- inbox --------------------------------------------------------------------------

    def inbox_query(request: Request, w: Who) -> tuple[CaseQuery, dict[str, str]]:
        p = request.query_params

        def one_of(name: str, allowed: Any, default: str = "") -> str:
            value = p.get(name)
            return value if value is not None and value in allowed else default

        chosen = {
            "view": one_of("view", ("all", "mine", "unassigned"), "all"),
            "status": one_of("status", STATUSES),
            "kind": one_of("kind", i18n.KIND),
            "street": one_of("street", catalogue.streets),
            "overdue": "1" if p.get("overdue") in ("1", "on", "true") else "",
        }
        q = CaseQuery(
            status=chosen["status"] or None,
            kind=chosen["kind"] or None,
            street=chosen["street"] or None,
            overdue=True if chosen["overdue"] else None,
            assignee=w.account.account_id if chosen["view"] == "mine" else None,
            unassigned=chosen["view"] == "unassigned",
            limit=cfg.page_size,
        )
        return q, chosen

    def inbox_ctx(request: Request, w: Who) -> dict[str, Any]:
        q, chosen = inbox_query(request, w)
        now = clock()
        mine = w.account.committees()
        d = display(lang_of(request))
        items, total = _open_first(store, mine, q, now)
        # Most urgent first: the store orders by the conclusion deadline, but a new case's
        # running clock is its (shorter) acceptance period.
        items.sort(key=lambda c: (c.status not in ("new", "accepted"), d.due(c), c.case_id))
        names: dict[str, str] = {}
        for cid in mine:
            names.update(names_for(cid))
        query = urlencode(
            {k: v for k, v in chosen.items() if v and not (k == "view" and v == "all")}
        )
        rows = [views.row(c, d, now, names) for c in items]
        return {
            "rows": rows,
            # What the page shows, in a few characters: a poll that brings the same is empty.
            "stamp": hashlib.sha256(
                json.dumps([total, rows], sort_keys=True, default=str).encode()
            ).hexdigest()[:16],
            "total": total,
            "shown": len(items),
            "chosen": chosen,
            "query": query,
            "several": len(mine) > 1,
            "committees": [d.committee(c) for c in mine],
            "statuses": [(s, i18n.pick(i18n.STATUS, s, d.lang)) for s in STATUSES],
            "kinds": [(k, i18n.pick(i18n.KIND, k, d.lang)) for k in i18n.KIND],
            "streets": [(s.code, d.street(s.code)) for s in streets],
            "done": request.query_params.get("done"),
        }

    @app.get("/inbox", response_class=HTMLResponse)
    def inbox(request: Request) -> Response:
        w = who(request)
        if not w.account.works_cases:
            raise _Page(403, "forbidden")
        return render(request, "inbox.html", inbox_ctx(request, w), w)

    @app.get("/find")
    def find(request: Request) -> Response:
        """Open a case by its number (a party calling with it, say)."""
        who(request)
        wanted = (request.query_params.get("case_id") or "").strip()
        return RedirectResponse(f"/cases/{quote(wanted)}" if wanted else "/inbox", status_code=303)

    @app.get("/inbox/rows", response_class=HTMLResponse)
    def inbox_rows(request: Request) -> Response:
        # Background polling: it must not keep an idle session alive.
        w = who(request, touch=False)
        if not w.account.works_cases:
            raise _Page(403, "forbidden")
        ctx = inbox_ctx(request, w)
        if request.query_params.get("since") == ctx["stamp"]:
            # Nothing changed: no swap, so the keyboard focus and scroll position stay put.
            return Response(status_code=204)
        return render(request, "_rows.html", ctx, w)

    # --- the case page and its actions -------------------------------------------------

    def own(request: Request, case_id: str, w: Who) -> CaseRecord:
        if not w.account.works_cases:
            raise _Page(403, "forbidden")
        try:
            return actions.own_case(case_id, w.account.committees())
        except ActionError as err:
            text = err.message if lang_of(request) == "en" else err.message_zh
            raise _Page(err.status, None, text) from None

    def case_page(
        request: Request, w: Who, case: CaseRecord, error: str | None = None, status: int = 200
    ) -> Response:
        d = display(lang_of(request))
        now = clock()
        names = names_for(case.committee_id)
        done = request.query_params.get("done")
        if done not in (*CASE_ACTIONS, *LINK_ACTIONS, SEPARATE):
            done = None
        expect = _int(request.query_params.get("v"))
        tries = _int(request.query_params.get("n")) or 0
        entries = store.history(case.case_id)
        linked = linked_report_ids(entries)
        pending = bool(done and expect and case.state.version < expect and status == 200)
        if done and expect:
            # The sink may have kept the event without applying it (the case changed first).
            sent = casefile.action_event_id(case.case_id, done, expect - 1)
            refused = next((e for e in entries if e.event_id == sent and not e.applied), None)
            t = i18n.translator(d.lang)
            if refused is not None:
                pending, done = False, None
                error = f"{t('sink_refused')}{refused.note or ''}"
            elif pending and tries >= PENDING_RELOADS:
                pending, done = False, None
                error = t("still_pending")
        ctx = {
            # Just submitted and the sink has not applied it yet: the page reloads itself.
            "pending": pending,
            "reload_url": (
                _case_url(case.case_id, done, expect, tries + 1) if pending and done else ""
            ),
            "case": case,
            "facts": views.row(case, d, now, names),
            # Parties and contacts: this page is reached only by the owning committee (own()).
            "report": views.report_facts(
                store.reports_for_case(case.case_id),
                case,
                d,
                linked,
                [rid for rid in linked if store.get_case(rid) is not None],
            ),
            "routing": views.routing(case, d),
            "history": views.history(entries, d, names),
            "alerts": views.alerts(store.sla_alerts(case.case_id), d),
            "incidents": views.incidents_of(case.case_id, store.incidents(), d),
            "deadline": d.time(case.deadline),
            "is_head": case.committee_id in w.account.heads(),
            "members": sorted(names.items(), key=lambda kv: kv[1]),
            "transfer_groups": views.transfer_choices(case.committee_id, d),
            "outcomes": [(k, i18n.pick(i18n.OUTCOME, k, d.lang)) for k in i18n.OUTCOME],
            "error": error,
            "outcome_label": i18n.pick(i18n.OUTCOME, case.state.outcome, d.lang),
            "done": i18n.pick(i18n.TEXT, done, d.lang) if done else None,
            # what happens next after a split or a link (the worker acts, then the store)
            "next": (
                i18n.pick(i18n.TEXT, f"{done}_next", d.lang)
                if done in (*LINK_ACTIONS, SEPARATE)
                else ""
            ),
            "can_link": case.status in casefile.OPEN_STATUSES,
        }
        return render(request, "case.html", ctx, w, status)

    @app.get("/cases/{case_id:path}", response_class=HTMLResponse)
    def case(request: Request, case_id: str) -> Response:
        w = who(request)
        return case_page(request, w, own(request, case_id, w))

    async def act(request: Request, case_id: str, action: str) -> Response:
        w = who(request)
        form = await request.form()
        check_csrf(request, form, w)
        case = own(request, case_id, w)
        lang = lang_of(request)
        version = _int(form.get("version"))
        common: dict[str, Any] = {
            "committees": w.account.committees(),
            "actor": w.account.account_id,
            "version": version,
        }
        try:
            if action == "accept":
                actions.accept(case_id, **common)
            elif action == "assign":
                if case.committee_id not in w.account.heads():
                    return case_page(request, w, case, i18n.translator(lang)("head_only"), 403)
                actions.assign(case_id, mediator_id=str(form.get("mediator_id") or ""), **common)
            elif action == "unlink":
                actions.unlink(
                    case_id,
                    report_id=str(form.get("report_id") or ""),
                    reason=str(form.get("reason") or ""),
                    **common,
                )
            elif action == "link":
                actions.link(
                    case_id,
                    other_case_id=str(form.get("other_case_id") or "").strip(),
                    reason=str(form.get("reason") or ""),
                    **common,
                )
            elif action == "transfer":
                actions.transfer(
                    case_id,
                    to_committee_id=str(form.get("to_committee_id") or ""),
                    reason=str(form.get("reason") or ""),
                    **common,
                )
            else:
                amount = str(form.get("agreed_amount_yuan") or "").strip() or None
                actions.conclude(
                    case_id,
                    outcome=str(form.get("outcome") or ""),
                    agreed_amount_yuan=amount,
                    **common,
                )
        except ActionError as err:
            if err.status == 409 and action in LINK_ACTIONS:
                target = str(form.get("report_id") or form.get("other_case_id") or "").strip()
                if _already_linked(store, case_id, action, w.account.account_id, target):
                    return RedirectResponse(_case_url(case_id, action), status_code=303)
            elif err.status == 409 and _already_done(
                store, case_id, action, w.account.account_id, version
            ):
                # The same form sent twice: the first one went through.
                return RedirectResponse(_case_url(case_id, action), status_code=303)
            text = err.message if lang == "en" else err.message_zh
            fresh = store.get_case(case_id) or case
            return case_page(request, w, fresh, text, err.status)
        if action in LINK_ACTIONS:
            # a link or a split changes no case version: the page says what happens next, and
            # a case linked by hand that is split off again is a case already, not a new one
            report_id = str(form.get("report_id") or "")
            separate = action == "unlink" and store.get_case(report_id) is not None
            return RedirectResponse(
                _case_url(case_id, SEPARATE if separate else action), status_code=303
            )
        expect = (version if version is not None else case.state.version) + 1
        return RedirectResponse(_case_url(case_id, action, expect), status_code=303)

    for _action in (*CASE_ACTIONS, *LINK_ACTIONS):

        def _bind(action: str) -> Callable[..., Any]:
            async def handler(request: Request, case_id: str) -> Response:
                return await act(request, case_id, action)

            handler.__name__ = f"case_{action}"
            return handler

        app.post(f"/cases/{{case_id:path}}/{_action}", response_class=HTMLResponse)(_bind(_action))

    return app


def _case_url(case_id: str, done: str, expect: int | None = None, tries: int = 0) -> str:
    url = f"/cases/{quote(case_id)}?done={done}"
    if expect is not None:
        url += f"&v={expect}"
    return url + (f"&n={tries}" if tries else "")


def _open_first(
    store: CaseStore, committees: tuple[str, ...], q: CaseQuery, now: datetime
) -> tuple[list[CaseRecord], int]:
    """Up to ``q.limit`` cases, the open ones first: without a status filter a year of
    concluded cases (earlier deadlines) would otherwise fill the page before the open ones."""
    if q.status is not None:
        page = store.list_cases(committees, q, now)
        return list(page.items), page.total
    items: list[CaseRecord] = []
    total = 0
    for status in STATUSES:
        room = q.limit - len(items)
        page = store.list_cases(committees, replace(q, status=status, limit=max(room, 1)), now)
        total += page.total
        if room > 0:
            items.extend(page.items)
    return items, total


def _client_address(request: Request, trust_forwarded_for: bool) -> str:
    """The address failed logins are counted by. Behind a proxy every request comes from the
    proxy, so one bad actor would lock everyone out: then the proxy's X-Forwarded-For entry
    (the last one, which the proxy appended itself) names the client."""
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.client.host if request.client else "unknown"


def _form_page(path: str) -> str:
    """The page a form posting to ``path`` is on."""
    for action in (*CASE_ACTIONS, *LINK_ACTIONS):
        path = path.removesuffix(f"/{action}")
    return path


def _back_to(request: Request) -> str:
    """Where to come back after logging in: the page the person was on. A background poll's
    page is the one it polls for; a form's, the page it was posted from."""
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        return _safe_next(current.path + (f"?{current.query}" if current.query else "")) or "/"
    if request.method != "GET":
        return _form_page(request.url.path)
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _lang_url(request: Request, lang: str) -> str:
    """This page in the other language (after a POST, the page the form was on)."""
    if request.method != "GET":
        return f"{_form_page(request.url.path)}?{urlencode({'lang': lang})}"
    params = {k: v for k, v in request.query_params.items() if k not in ("lang", "done", "v")}
    return f"{request.url.path}?{urlencode({**params, 'lang': lang})}"


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _safe_next(value: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""
    return value


def _already_linked(store: CaseStore, case_id: str, action: str, actor: str, target: str) -> bool:
    """Whether this person's same split or link (of ``target``) has been applied already."""
    type_ = "case.unlinked.v1" if action == "unlink" else "case.linked.v1"
    return any(
        h.applied
        and h.type == type_
        and h.data.get("actor") == actor
        and h.data.get("report_id") == target
        for h in store.history(case_id)
    )


def _already_done(
    store: CaseStore, case_id: str, action: str, actor: str, version: int | None
) -> bool:
    """Whether this person's same action, made on ``version``, has been applied already."""

    if version is None:
        return False
    for h in store.history(case_id):
        if (
            h.applied
            and h.type == casefile.ACTION_TYPES[action]
            and h.data.get("actor") == actor
            and h.data.get("version") == version
        ):
            return True
    return False
