"""One small HTTP server for the command center: ``/metrics``, ``/dashboard`` and its JSON,
``/healthz`` (the process is alive) and ``/readyz`` (it is consuming from Kafka).

Every asset is served from this package (the bureau's network has no internet). The page
polls ``/api/dashboard`` every second, so it updates by itself without a reload; its trends
and drill-downs are read from the case store. The page and its JSON need a command (or admin)
account's session, the workbench's own (``Gate``); ``/metrics`` is open on loopback only, and
takes a bearer token when the server is bound elsewhere.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from consumers.metrics.config import FeedConfig, FoldConfig
from consumers.metrics.fold import MetricsSink
from consumers.metrics.health import ConsumerHealth
from consumers.metrics.vocabulary import Vocabulary

log = logging.getLogger("fengqiao.metrics")
STATIC = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class DashboardConfig:
    """Where the command center listens, which catalogue names its streets and committees,
    how events are folded and where they are read from. ``metrics_token``: the bearer token
    ``/metrics`` asks for when ``host`` is not a loopback address."""

    host: str
    port: int
    fold: FoldConfig
    feed: FeedConfig
    catalogue_path: Path | None = None
    metrics_token: str | None = field(default=None, repr=False)  # a secret: never in a repr


@dataclass(frozen=True)
class Gate:
    """Who may open the command center. ``allowed(session_token, touch)`` is bound by the
    composition root to the workbench's sessions (a command or admin account); the session
    cookie is the workbench's, and a visitor without one is sent to its login page."""

    allowed: Callable[[str | None, bool], bool]
    login_url: str
    cookie: str = "fq_session"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsExposure(ValueError):
    """``/metrics`` would be open beyond this machine."""


def create_app(
    sink: MetricsSink,
    registry: CollectorRegistry,
    health: ConsumerHealth | None = None,
    *,
    gate: Gate | None = None,
    store: Engine | None = None,
    metrics_token: str | None = None,
) -> FastAPI:
    """The app; without ``health`` (a sink fed in-process) it is always ready.

    ``gate`` None leaves the page open: only for a sink fed in-process by a test or a bench;
    ``serve`` always passes one. ``store`` (the case store) feeds the trends and drill-downs.
    ``metrics_token``: when given, ``/metrics`` requires ``Authorization: Bearer <token>``.
    """
    from consumers.figures import drill, trends
    from consumers.figures.window import BadPeriod, Window

    app = FastAPI(title="Fengqiao command center", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def admitted(request: Request, touch: bool) -> bool:
        return gate is None or gate.allowed(request.cookies.get(gate.cookie), touch)

    def refused() -> JSONResponse:
        return JSONResponse(
            {"error": "login required", "message": "请以指挥中心账号登录"},
            status_code=401,
            headers=NO_STORE,
        )

    def problem(status: int, field: str, message: str) -> JSONResponse:
        return JSONResponse({"field": field, "error": message}, status_code=status)

    def no_store() -> JSONResponse:
        return JSONResponse(
            {"error": "no case store configured for the command center"}, status_code=503
        )

    def window(period: str) -> Window:
        return Window.period(period, sink.today(), sink.tz)

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        if metrics_token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {metrics_token}".encode()):
                return Response(
                    "bearer token required\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        sink.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        if not admitted(request, touch=True):
            assert gate is not None
            return RedirectResponse(f"{gate.login_url}?{urlencode({'next': '/'})}", status_code=303)
        page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers=NO_STORE)

    @app.get("/api/dashboard")
    def dashboard_data(request: Request) -> JSONResponse:
        # The live page's own poll keeps its session alive (touch, throttled by the accounts'
        # touch interval): a wall display is watched, not clicked, and must not log out after
        # the idle timeout. The absolute expiry still ends it. The other answers are asked for
        # by a person (or a chart's period) and do not extend anything by themselves.
        if not admitted(request, touch=True):
            return refused()
        return JSONResponse(sink.snapshot(), headers=NO_STORE)

    @app.get("/api/trends")
    def trends_data(request: Request, period: str = "30d") -> JSONResponse:
        if not admitted(request, touch=False):
            return refused()
        if store is None:
            return no_store()
        try:
            w = window(period)
        except BadPeriod as err:
            return problem(422, "period", str(err))
        return JSONResponse(trends.all_trends(store, w), headers=NO_STORE)

    @app.get("/api/risk-history")
    def risk_history(request: Request, period: str = "30d") -> JSONResponse:
        if not admitted(request, touch=False):
            return refused()
        try:
            w = window(period)
        except BadPeriod as err:
            return problem(422, "period", str(err))
        return JSONResponse(sink.risk_history(w.days), headers=NO_STORE)

    @app.get("/api/drill/cell")
    def drill_cell(request: Request, street: str = "", category: str = "") -> JSONResponse:
        if not admitted(request, touch=False):
            return refused()
        if store is None:
            return no_store()
        vocab = sink.vocab
        if street not in vocab.streets:
            return problem(422, "street", "street must be a catalogue street code")
        if category not in vocab.categories:
            return problem(422, "category", "category must be a catalogue category code")
        body: dict[str, Any] = drill.heat_cell(store, street, category, sink.now())
        body["street_name"] = vocab.street_name(street)
        body["category_name"] = vocab.category_name(category)
        body["by_committee"] = [
            {"code": c, "name": vocab.committee_name(vocab.committee(c)), "cases": n}
            for c, n in body["by_committee"].items()
        ]
        for row in body["rows"]:
            row["committee_name"] = vocab.committee_name(vocab.committee(row["committee"]))
        return JSONResponse(body, headers=NO_STORE)

    @app.get("/api/drill/incident/{ref}")
    def drill_incident(request: Request, ref: str) -> JSONResponse:
        if not admitted(request, touch=False):
            return refused()
        if store is None:
            return no_store()
        if len(ref) != 16 or any(ch not in "0123456789abcdef" for ch in ref):
            return problem(422, "ref", "ref must be a feed reference (16 hex digits)")
        body = drill.incident_members(store, ref)
        if body is None:
            return problem(404, "ref", "no incident with this reference in the case store")
        vocab = sink.vocab
        body["rule"] = vocab.rule(body["rule"])
        for case in body["cases"]:
            if case["committee"] is not None:
                case["committee_name"] = vocab.committee_name(vocab.committee(case["committee"]))
        return JSONResponse(body, headers=NO_STORE)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True, "consuming": health is None or health.consuming}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if health is None:
            return JSONResponse({"ready": True, "reason": "fed in process"})
        r = health.readiness()
        return JSONResponse(
            {"ready": r.ready, "reason": r.reason},
            status_code=200 if r.ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    return app


def build(config: DashboardConfig) -> tuple[MetricsSink, CollectorRegistry]:
    """The sink with its own registry and the district's catalogue as its vocabulary."""
    from schemas.reference.catalogue import load_catalogue

    vocabulary = Vocabulary.from_catalogue(load_catalogue(config.catalogue_path))
    registry = CollectorRegistry()
    return MetricsSink.from_config(registry, config.fold, vocabulary), registry


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT end ``run`` normally (uvicorn re-raises them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        sigs = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(config: DashboardConfig, gate: Gate, store: Engine | None) -> int:
    """Consume in a background thread, serve HTTP in this one; SIGTERM/Ctrl-C stop both.

    Returns the exit code: 1 when the consumer stopped on an error (stale numbers must not
    look live, so the server stops with it), else 0. Raises ``MetricsExposure`` when bound
    beyond loopback without a metrics token.
    """
    from consumers.metrics.feed import run_consumer

    token = None
    if not is_loopback(config.host):
        if not config.metrics_token:
            raise MetricsExposure(
                "metrics_token must be set when the command center is bound beyond loopback "
                "(metrics_host): /metrics would be open to the network"
            )
        token = config.metrics_token
    sink, registry = build(config)
    stop, failed = threading.Event(), threading.Event()
    health = ConsumerHealth(config.feed.stale_after_s)
    server = _Server(
        uvicorn.Config(
            create_app(sink, registry, health, gate=gate, store=store, metrics_token=token),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
        )
    )

    def consume() -> None:
        try:
            run_consumer(config.feed, sink, stop, health)
        except Exception as err:
            log.exception("the metrics consumer stopped")
            health.stopped(err)
            failed.set()
            server.should_exit = True
        else:
            health.stopped()

    consumer = threading.Thread(target=consume, name="metrics-consumer", daemon=True)
    consumer.start()
    try:
        server.run()
    finally:
        stop.set()
        consumer.join(timeout=10)
    return 1 if failed.is_set() else 0
