"""The HTTP ingest gateway: integrations POST events, the gateway validates and writes to Kafka.

Answers 202 with the event id only after the broker acknowledged the write (acks=all), so a
202 means the event cannot vanish. 401 without a valid key, 403 when the event's source is not
the key's, 413 above the size limit, 422 with field paths (never values), 503 with
Retry-After while Kafka is unreachable. An ``Idempotency-Key`` (else the envelope id) that was
accepted before is answered with the first event id and not written again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from fengqiao.settings import Settings
from producers.keystore import ApiKey, KeyStore
from producers.sdk import Publisher, validate
from schemas.errors import ContractError, FengqiaoError, FieldProblem
from schemas.events import INTAKE_KINDS
from schemas.export import component_schemas, model_name
from schemas.parse import ParsedEvent

log = logging.getLogger("fengqiao.gateway")


class KafkaUnavailable(FengqiaoError):
    """Kafka could not be reached or did not acknowledge in time."""


# --- responses (documented in OpenAPI) -----------------------------------------------------


class Accepted(BaseModel):
    id: str = Field(description="The event id, acknowledged by Kafka")
    duplicate: bool = Field(
        default=False, description="True when this idempotency key was accepted before"
    )


class BatchAccepted(BaseModel):
    ids: list[str]
    duplicates: int = Field(description="How many events of the batch were accepted before")


class Problem(BaseModel):
    path: str = Field(description="Where the problem is, e.g. data.parties[0].phone")
    problem: str = Field(description="What is wrong (never the value itself)")


class ErrorBody(BaseModel):
    status: int
    title: str
    detail: str
    errors: list[Problem] = Field(default_factory=list)


def _error(
    status: int,
    title: str,
    detail: str,
    problems: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        status=status,
        title=title,
        detail=detail,
        errors=[Problem(path=p.path, problem=p.problem) for p in problems or []],
    )
    return JSONResponse(
        body.model_dump(),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/problem+json",
    )


# --- Kafka -----------------------------------------------------------------------------


class KafkaSender:
    """A lazily created, shared producer; remembers an outage so callers fail fast."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pub: Publisher | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0

    def _publisher(self) -> Publisher:
        with self._lock:
            if self._pub is not None:
                return self._pub
            if time.monotonic() < self._down_until:
                raise KafkaUnavailable("Kafka was unreachable moments ago")
            t_ms = int(self.settings.gateway_kafka_timeout_s * 1000)
            try:
                self._pub = Publisher(
                    self.settings,
                    client_id="fengqiao-gateway",
                    bootstrap_timeout_ms=t_ms,
                    max_block_ms=t_ms,
                    request_timeout_ms=t_ms,
                    delivery_timeout_ms=t_ms + 1000,
                )
            except Exception as err:
                self._down_until = time.monotonic() + self.settings.gateway_retry_after_s
                raise KafkaUnavailable(f"cannot reach Kafka: {type(err).__name__}") from err
            return self._pub

    def send(self, events: list[ParsedEvent]) -> list[str]:
        """Write events and wait for every acknowledgement; returns their ids."""
        pub = self._publisher()
        try:
            sent = [pub.send_parsed(p) for p in events]
            for _id, fut in sent:
                fut.get(timeout=self.settings.gateway_kafka_timeout_s + 2)
        except Exception as err:
            raise KafkaUnavailable(f"Kafka did not acknowledge: {type(err).__name__}") from err
        return [event_id for event_id, _ in sent]

    def close(self) -> None:
        with self._lock:
            if self._pub is not None:
                self._pub.close(timeout_s=self.settings.gateway_kafka_timeout_s)
                self._pub = None


# --- the app ---------------------------------------------------------------------------

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Gateway API key")
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token")


def _presented_key(
    x_api_key: str | None = Depends(_api_key_header),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str | None:
    return x_api_key or (bearer.credentials if bearer else None)


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _responses(batch: bool) -> dict[int | str, dict[str, Any]]:
    return {
        202: {"model": BatchAccepted if batch else Accepted},
        401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one"},
        403: {"model": ErrorBody, "description": "The event's source is not the key's source"},
        413: {"model": ErrorBody, "description": "The body is larger than the limit"},
        422: {"model": ErrorBody, "description": "Invalid event(s); errors name each field"},
        503: {
            "model": ErrorBody,
            "description": "Kafka is unreachable; retry after the Retry-After seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    }


def create_app(
    settings: Settings, *, store: KeyStore | None = None, sender: KafkaSender | None = None
) -> FastAPI:
    store = store or KeyStore(settings.effective_gateway_db_url())
    sender = sender or KafkaSender(settings)
    limit = settings.gateway_max_body_bytes
    stripes = [threading.Lock() for _ in range(64)]

    async def purge_idempotency_records() -> None:
        # Past the worker's dedupe horizon a replayed id is a new event anyway.
        horizon = timedelta(days=settings.dedupe_horizon_days)
        while True:
            try:
                dropped = await run_in_threadpool(store.forget_older_than, horizon)
                if dropped:
                    log.info("forgot %d idempotency records older than %s", dropped, horizon)
            except Exception:  # a busy database must not stop the gateway
                log.exception("purging idempotency records failed")
            await asyncio.sleep(3600)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        purge = asyncio.create_task(purge_idempotency_records())
        yield
        purge.cancel()
        await run_in_threadpool(sender.close)

    app = FastAPI(
        lifespan=lifespan,
        title="Fengqiao ingest gateway",
        version="1.0.0",
        description=(
            "Publish intake events over HTTP. Authenticate with the API key of your integration "
            "(`fengqiao keys create --source SOURCE`) as `X-API-Key` or a bearer token; events "
            "must carry that source. 202 means Kafka acknowledged the write. Send the same "
            "`Idempotency-Key` (default: the envelope id) again safely: it yields one event."
        ),
    )
    app.state.store, app.state.sender = store, sender

    def unavailable(err: KafkaUnavailable) -> JSONResponse:
        log.warning("503: %s", err)
        return _error(
            503,
            "Kafka unavailable",
            "The event was not written; retry later with the same idempotency key.",
            headers={"Retry-After": str(settings.gateway_retry_after_s)},
        )

    def authenticate(key: str | None) -> ApiKey | JSONResponse:
        if not key:
            return _error(401, "Unauthorized", "send the integration's API key as X-API-Key")
        found = store.lookup(key)
        if found is None:
            return _error(401, "Unauthorized", "unknown or revoked API key")
        return found

    async def read_json(request: Request) -> Any:
        try:
            body = await _read_body(request, limit)
        except _BodyTooLarge:
            return _error(413, "Payload too large", f"the body exceeds {limit} bytes")
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(
                422,
                "Invalid JSON",
                "the body is not valid JSON",
                [FieldProblem("", "body is not valid JSON")],
            )

    def send_once(api_key: ApiKey, items: list[tuple[str, ParsedEvent]]) -> tuple[list[str], int]:
        """Write events not accepted before under their idempotency key; (ids, duplicates)."""
        ids: list[str | None] = [None] * len(items)
        locks = sorted(
            {
                id(stripes[hash(k) % len(stripes)]): stripes[hash(k) % len(stripes)]
                for k, _ in items
            }.items()
        )
        for _, lock in locks:
            lock.acquire()
        try:
            before = store.accepted_many(api_key.source, [k for k, _ in items])
            todo = []
            for i, (idem, _parsed) in enumerate(items):
                ids[i] = before.get(idem)
                if ids[i] is None:
                    todo.append(i)
            # within one batch, a repeated key is written once
            first: dict[str, int] = {}
            unique = [i for i in todo if first.setdefault(items[i][0], i) == i]
            sender.send([items[i][1] for i in unique])
            held = store.remember_many(
                api_key.source, [(items[i][0], items[i][1].envelope.id) for i in unique]
            )
            for i in todo:
                ids[i] = held[items[i][0]]
        finally:
            for _, lock in reversed(locks):
                lock.release()
        return [i or "" for i in ids], len(items) - len(unique)

    def check(kind: str, obj: Any, api_key: ApiKey, prefix: str = "") -> ParsedEvent | JSONResponse:
        source = obj.get("source") if isinstance(obj, dict) else None
        if isinstance(source, str) and source != api_key.source:
            return _error(
                403, "Forbidden", f"{prefix}source: this key may only publish {api_key.source}"
            )
        try:
            return validate(obj, kind)
        except ContractError as err:
            problems = [FieldProblem(_join(prefix, p.path), p.problem) for p in err.problems]
            return _error(422, "Invalid event", "; ".join(str(p) for p in problems), problems)

    for kind, (type_, _topic) in INTAKE_KINDS.items():
        ref = {"$ref": f"#/components/schemas/{model_name(type_)}"}

        def make(kind: str) -> tuple[Any, Any]:
            async def publish_one(
                request: Request, key: str | None = Depends(_presented_key)
            ) -> Any:
                auth = authenticate(key)
                if isinstance(auth, JSONResponse):
                    return auth
                obj = await read_json(request)
                if isinstance(obj, JSONResponse):
                    return obj
                parsed = check(kind, obj, auth)
                if isinstance(parsed, JSONResponse):
                    return parsed
                idem = request.headers.get("idempotency-key") or parsed.envelope.id
                try:
                    ids, dups = await run_in_threadpool(send_once, auth, [(idem, parsed)])
                except KafkaUnavailable as err:
                    return unavailable(err)
                return JSONResponse(
                    Accepted(id=ids[0], duplicate=bool(dups)).model_dump(), status_code=202
                )

            async def publish_batch(
                request: Request, key: str | None = Depends(_presented_key)
            ) -> Any:
                auth = authenticate(key)
                if isinstance(auth, JSONResponse):
                    return auth
                obj = await read_json(request)
                if isinstance(obj, JSONResponse):
                    return obj
                if isinstance(obj, dict) and isinstance(obj.get("events"), list):
                    obj = obj["events"]
                if not isinstance(obj, list) or not obj:
                    return _error(
                        422,
                        "Invalid batch",
                        "the body must be a non-empty JSON array",
                        [FieldProblem("", "body must be a non-empty JSON array")],
                    )
                if len(obj) > settings.gateway_max_batch:
                    return _error(
                        413,
                        "Batch too large",
                        f"at most {settings.gateway_max_batch} events per batch",
                    )
                parsed_all: list[ParsedEvent] = []
                problems: list[FieldProblem] = []
                for i, item in enumerate(obj):
                    res = check(kind, item, auth, prefix=f"[{i}]")
                    if isinstance(res, JSONResponse):
                        if res.status_code == 403:
                            return res
                        problems += [
                            FieldProblem(e["path"], e["problem"])
                            for e in json.loads(bytes(res.body))["errors"]
                        ]
                    else:
                        parsed_all.append(res)
                if problems:
                    return _error(
                        422,
                        "Invalid events",
                        f"{len(problems)} problem(s); nothing was written",
                        problems,
                    )
                items = [(p.envelope.id, p) for p in parsed_all]
                try:
                    ids, dups = await run_in_threadpool(send_once, auth, items)
                except KafkaUnavailable as err:
                    return unavailable(err)
                return JSONResponse(
                    BatchAccepted(ids=ids, duplicates=dups).model_dump(), status_code=202
                )

            return publish_one, publish_batch

        one, batch = make(kind)
        body = {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}
        app.post(
            f"/v1/events/{kind}",
            status_code=202,
            summary=f"Publish one {type_} event",
            responses=_responses(False),
            openapi_extra={
                **body,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "Default: the envelope id. Reused: one event, not two.",
                    }
                ],
            },
            tags=["events"],
            operation_id=f"publish_{kind.replace('-', '_')}",
        )(one)
        app.post(
            f"/v1/events/{kind}/batch",
            status_code=202,
            summary=f"Publish a batch of {type_} events (all valid, or none written)",
            responses=_responses(True),
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": ref,
                                "minItems": 1,
                                "maxItems": settings.gateway_max_batch,
                            }
                        }
                    },
                }
            },
            tags=["events"],
            operation_id=f"publish_{kind.replace('-', '_')}_batch",
        )(batch)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(component_schemas([t for t, _ in INTAKE_KINDS.values()]))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"
