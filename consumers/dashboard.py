"""One small HTTP server for the command center: ``/metrics``, ``/dashboard`` and its JSON.

Every asset is served from this package (the bureau's network has no internet). The page
polls ``/api/dashboard`` every second, so it updates by itself without a reload.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumers import labels
from consumers.metrics import MetricsSink

log = logging.getLogger("fengqiao.metrics")
STATIC = Path(__file__).parent / "static"


def create_app(
    sink: MetricsSink, registry: CollectorRegistry, ready: threading.Event | None = None
) -> FastAPI:
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
    def healthz() -> dict[str, Any]:
        return {"ok": True, "consuming": bool(ready is None or ready.is_set())}

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    return app


def build(settings: Any) -> tuple[MetricsSink, CollectorRegistry]:
    """The sink with its own registry; the clock follows ``settings.clock``."""
    from schemas.reference.catalogue import load_catalogue

    catalogue = load_catalogue(settings.catalogue_path)
    streets = {
        code: labels.STREETS.get(code, street.name) for code, street in catalogue.streets.items()
    }
    registry = CollectorRegistry()
    sink = MetricsSink(
        registry,
        clock=(lambda: datetime.now(UTC)) if settings.clock == "wall" else None,
        dedupe_horizon=timedelta(days=settings.dedupe_horizon_days),
        utc_offset=timedelta(hours=settings.metrics_utc_offset_hours),
        feed_size=settings.metrics_feed_size,
        street_names=streets,
        committee_names={cid: c.name for cid, c in catalogue.committees.items()},
    )
    return sink, registry


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


def serve(settings: Any) -> int:
    """Consume in a background thread, serve HTTP in this one; SIGTERM/Ctrl-C stop both.

    Returns the exit code: 1 when the consumer stopped on an error (stale numbers must not
    look live, so the server stops with it), else 0.
    """
    from consumers.metrics import run_consumer

    sink, registry = build(settings)
    stop, ready, failed = threading.Event(), threading.Event(), threading.Event()
    server = _Server(
        uvicorn.Config(
            create_app(sink, registry, ready),
            host=settings.metrics_host,
            port=settings.metrics_port,
            log_level="warning",
            access_log=False,
        )
    )

    def consume() -> None:
        try:
            run_consumer(settings, sink, stop, ready=ready)
        except Exception:
            log.exception("the metrics consumer stopped")
            failed.set()
            server.should_exit = True

    consumer = threading.Thread(target=consume, name="metrics-consumer", daemon=True)
    consumer.start()
    try:
        server.run()
    finally:
        stop.set()
        consumer.join(timeout=10)
    return 1 if failed.is_set() else 0
