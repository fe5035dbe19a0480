"""One small HTTP server for the command center: ``/metrics``, ``/dashboard`` and its JSON,
``/healthz`` (the process is alive) and ``/readyz`` (it is consuming from Kafka).

Every asset is served from this package (the bureau's network has no internet). The page
polls ``/api/dashboard`` every second, so it updates by itself without a reload.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumers.metrics.config import FeedConfig, FoldConfig
from consumers.metrics.fold import MetricsSink
from consumers.metrics.health import ConsumerHealth
from consumers.metrics.vocabulary import Vocabulary

log = logging.getLogger("fengqiao.metrics")
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class DashboardConfig:
    """Where the command center listens, which catalogue names its streets and committees,
    how events are folded and where they are read from."""

    host: str
    port: int
    fold: FoldConfig
    feed: FeedConfig
    catalogue_path: Path | None = None


def create_app(
    sink: MetricsSink, registry: CollectorRegistry, health: ConsumerHealth | None = None
) -> FastAPI:
    """The app; without ``health`` (a sink fed in-process) it is always ready."""
    app = FastAPI(title="Fengqiao command center", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/metrics")
    def metrics() -> Response:
        sink.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"))

    @app.get("/api/dashboard")
    def dashboard_data() -> JSONResponse:
        return JSONResponse(sink.snapshot(), headers={"Cache-Control": "no-store"})

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


def serve(config: DashboardConfig) -> int:
    """Consume in a background thread, serve HTTP in this one; SIGTERM/Ctrl-C stop both.

    Returns the exit code: 1 when the consumer stopped on an error (stale numbers must not
    look live, so the server stops with it), else 0.
    """
    from consumers.metrics.feed import run_consumer

    sink, registry = build(config)
    stop, failed = threading.Event(), threading.Event()
    health = ConsumerHealth(config.feed.stale_after_s)
    server = _Server(
        uvicorn.Config(
            create_app(sink, registry, health),
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
