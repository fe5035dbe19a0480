"""Probes: ``/healthz`` says the process serves requests; ``/readyz`` that it can accept events.

Ready means the Kafka producer answers a metadata request and the key store answers a query;
otherwise 503 with one sentence saying which, as a problem body.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from producers.gateway.openapi import Health, problem
from producers.gateway.problems import Refusal
from producers.gateway.sender import EventSender
from producers.keystore import KeyStore


def add_health_routes(app: FastAPI, store: KeyStore, sender: EventSender) -> None:
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz() -> JSONResponse:
        reason = await sender.not_ready()
        if reason is None:
            try:
                await asyncio.to_thread(store.ping)
            except Exception as err:
                reason = f"The key and idempotency database does not answer: {type(err).__name__}."
        if reason is not None:
            raise Refusal(503, "Not ready", reason)
        return JSONResponse({"status": "ok"})

    ok: dict[int | str, dict[str, Any]] = {200: {"model": Health, "description": "ok"}}
    app.add_api_route(
        "/healthz", healthz, methods=["GET"], tags=["ops"], summary="Alive", responses=ok
    )
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=["ops"],
        summary="Ready: Kafka and the key store answer",
        responses={**ok, 503: problem("Not ready; the detail says why, in one sentence")},
    )
