"""One small HTTP server for the command center: ``/metrics``, ``/dashboard`` and its JSON.

Every asset is served from this package (the bureau's network has no internet). The page
polls ``/api/dashboard`` every second, so it updates by itself without a reload.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    from streams.catalogue import load_catalogue

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


def serve(settings: Any) -> None:
    """Consume in a background thread, serve HTTP in this one; SIGTERM/Ctrl-C stop both."""
    import uvicorn

    from consumers.metrics import run_consumer

    sink, registry = build(settings)
    stop, ready = threading.Event(), threading.Event()

    def consume() -> None:
        try:
            run_consumer(settings, sink, stop, ready=ready)
        except Exception:
            # Stale numbers must not look live: stop the whole process so its supervisor sees it.
            log.exception("the metrics consumer stopped")
            os.kill(os.getpid(), signal.SIGTERM)

    consumer = threading.Thread(
        target=consume,
        name="metrics-consumer",
        daemon=True,
    )
    consumer.start()
    app = create_app(sink, registry, ready)
    try:
        uvicorn.run(
            app,
            host=settings.metrics_host,
            port=settings.metrics_port,
            log_level="warning",
            access_log=False,
        )
    finally:
        stop.set()
        consumer.join(timeout=10)
