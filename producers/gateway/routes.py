"""The publishing endpoints: one event, or a batch written all or nothing, per intake kind."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
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
from producers.keystore import KeyStoreUnavailable
from schemas.events import INTAKE_KINDS

log = logging.getLogger("fengqiao.gateway")

Handler = Callable[[Request], Awaitable[JSONResponse]]


def add_event_routes(
    app: FastAPI, config: GatewayConfig, authenticate: Authenticator, ledger: Ledger
) -> None:
    def unavailable(err: Exception) -> Refusal:
        """503 for an outage of Kafka or of the key store: the request may simply be retried."""
        what = "Kafka" if isinstance(err, KafkaUnavailable) else "the key store"
        log.warning("503, %s unavailable: %s", what, type(err).__name__)
        return Refusal(
            503,
            f"{what[0].upper()}{what[1:]} unavailable",
            f"The event was not acknowledged ({what} did not answer); it may still be written. "
            "Retry later with the same idempotency key: retrying is safe and yields one event.",
            headers={"Retry-After": str(config.retry_after_s)},
        )

    def guarded(handler: Handler) -> Handler:
        async def guarded_handler(request: Request) -> JSONResponse:
            try:
                return await handler(request)
            except (KafkaUnavailable, KeyStoreUnavailable, SQLAlchemyError) as err:
                raise unavailable(err) from err

        return guarded_handler

    def one_route(kind: str) -> Handler:
        async def publish_one(request: Request) -> JSONResponse:
            key = await authenticate(request)
            obj = decode_json(await read_body(request, config.max_body_bytes), config.max_depth)
            parsed = check_event(kind, obj, key)
            idem = idempotency_key(request, parsed.envelope.id)
            ids, dups = await ledger.publish_once(key.source, [(idem, parsed)])
            return JSONResponse({"id": ids[0], "duplicate": bool(dups)}, status_code=202)

        return guarded(publish_one)

    def batch_route(kind: str) -> Handler:
        async def publish_batch(request: Request) -> JSONResponse:
            key = await authenticate(request)
            obj = decode_json(await read_body(request, config.max_body_bytes), config.max_depth)
            parsed = check_batch(kind, batch_items(obj, config.max_batch), key)
            ids, dups = await ledger.publish_once(key.source, [(p.envelope.id, p) for p in parsed])
            return JSONResponse({"ids": ids, "duplicates": dups}, status_code=202)

        return guarded(publish_batch)

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
