"""The publishing endpoints: one event, or a batch written all or nothing, per intake kind."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request

from producers.gateway.auth import Authenticator
from producers.gateway.body import decode_json, read_body
from producers.gateway.checks import batch_items, check_batch, check_event
from producers.gateway.config import GatewayConfig
from producers.gateway.idempotency_header import idempotency_key
from producers.gateway.ledger import Ledger
from producers.gateway.openapi import batch_operation, single_operation
from producers.gateway.problems import Refusal
from producers.gateway.sender import KafkaUnavailable
from schemas.events import INTAKE_KINDS

log = logging.getLogger("fengqiao.gateway")

Handler = Callable[[Request], Awaitable[JSONResponse]]


def add_event_routes(
    app: FastAPI, config: GatewayConfig, authenticate: Authenticator, ledger: Ledger
) -> None:
    def unavailable(err: KafkaUnavailable) -> Refusal:
        log.warning("503: %s", err)
        return Refusal(
            503,
            "Kafka unavailable",
            "The event was not acknowledged by Kafka; retry later with the same idempotency "
            "key (retrying is safe: it yields one event).",
            headers={"Retry-After": str(config.retry_after_s)},
        )

    def one_route(kind: str) -> Handler:
        async def publish_one(request: Request) -> JSONResponse:
            key = await authenticate(request)
            obj = decode_json(await read_body(request, config.max_body_bytes), config.max_depth)
            parsed = check_event(kind, obj, key)
            idem = idempotency_key(request, parsed.envelope.id)
            try:
                ids, dups = await ledger.publish_once(key.source, [(idem, parsed)])
            except KafkaUnavailable as err:
                raise unavailable(err) from err
            return JSONResponse({"id": ids[0], "duplicate": bool(dups)}, status_code=202)

        return publish_one

    def batch_route(kind: str) -> Handler:
        async def publish_batch(request: Request) -> JSONResponse:
            key = await authenticate(request)
            obj = decode_json(await read_body(request, config.max_body_bytes), config.max_depth)
            parsed = check_batch(kind, batch_items(obj, config.max_batch), key)
            try:
                ids, dups = await ledger.publish_once(
                    key.source, [(p.envelope.id, p) for p in parsed]
                )
            except KafkaUnavailable as err:
                raise unavailable(err) from err
            return JSONResponse({"ids": ids, "duplicates": dups}, status_code=202)

        return publish_batch

    for kind, (type_, _topic) in INTAKE_KINDS.items():
        app.add_api_route(
            f"/v1/events/{kind}", one_route(kind), methods=["POST"], **single_operation(kind, type_)
        )
        app.add_api_route(
            f"/v1/events/{kind}/batch",
            batch_route(kind),
            methods=["POST"],
            **batch_operation(kind, type_, config.max_batch),
        )
