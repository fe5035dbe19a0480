"""Compose the gateway: key store, Kafka sender, idempotency ledger, routes, probes, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from producers.gateway.auth import Authenticator
from producers.gateway.config import GatewayConfig
from producers.gateway.health import add_health_routes
from producers.gateway.ledger import Ledger
from producers.gateway.openapi import DESCRIPTION, install_openapi
from producers.gateway.problems import Refusal, refusal_handler
from producers.gateway.routes import add_event_routes
from producers.gateway.sender import EventSender, KafkaSender
from producers.keystore import KeyStore

log = logging.getLogger("fengqiao.gateway")


async def _purge_idempotency_records(store: KeyStore, config: GatewayConfig) -> None:
    while True:
        try:
            dropped = await asyncio.to_thread(store.forget_older_than, config.idempotency_horizon)
            if dropped:
                log.info("forgot %d idempotency records older than the dedupe horizon", dropped)
        except Exception:  # a busy database must not stop the gateway
            log.exception("purging idempotency records failed")
        await asyncio.sleep(3600)


def create_app(
    config: GatewayConfig, *, store: KeyStore | None = None, sender: EventSender | None = None
) -> FastAPI:
    owns_store = store is None
    store = store or KeyStore(config.db_url)
    sender = sender or KafkaSender(
        config.publisher, config.kafka_timeout_s, config.retry_after_s, config.linger_ms
    )
    keys, events = store, sender

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        purge = asyncio.create_task(_purge_idempotency_records(keys, config))
        await events.start()
        try:
            yield
        finally:
            purge.cancel()
            await events.close()
            if owns_store:  # a store handed in belongs to the caller
                keys.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Fengqiao ingest gateway",
        version="1.1.0",
        description=DESCRIPTION,
    )
    app.state.store, app.state.sender = store, sender
    app.add_exception_handler(Refusal, refusal_handler)
    add_event_routes(app, config, Authenticator(store), Ledger(store, sender.send))
    add_health_routes(app, store, sender)
    install_openapi(app)
    return app
