"""Build the faust app: ``create_app(settings)`` registers every agent from its feature module.

Agents only decode, call the pure decision code and publish. Intake topics are read as raw
bytes: the worker validates them itself, so a bad message becomes a dead letter instead of
being skipped by faust's decoder. Agents run with concurrency 1 (faust-streaming #606).
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from fengqiao.settings import Settings
from schemas.topics import TOPICS
from streams.intake import IntakeProcessor, Out
from streams.routing import Router, load_router

log = logging.getLogger("fengqiao.worker")

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkerContext:
    """What feature modules need to register agents: settings, topics, shared state."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    router: Router
    clock: Clock
    intake: IntakeProcessor | None = None
    case_hooks: list[Callable[..., Any]] = field(default_factory=list)
    assigned_partitions: int = 0

    async def publish(self, outs: list[Out]) -> None:
        for out in outs:
            await self.topics[out.topic].send(
                key=out.key.encode(), value=json.dumps(out.value, ensure_ascii=False).encode()
            )


def _make_topics(app: faust.App, settings: Settings) -> dict[str, faust.TopicT]:
    topics: dict[str, faust.TopicT] = {}
    for spec in TOPICS:
        topics[spec.name] = app.topic(
            settings.topic(spec.name),
            key_serializer="raw",
            value_serializer="raw",
            internal=False,
        )
    return topics


def create_app(
    settings: Settings,
    *,
    router: Router | None = None,
    clock: Clock | None = None,
    features: tuple[Callable[[WorkerContext], None], ...] | None = None,
) -> tuple[faust.App, WorkerContext]:
    datadir = settings.worker_data_dir or (settings.home / "worker")
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.resolved_bootstrap().split(",")],
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_port=settings.worker_web_port,
        web_host="127.0.0.1",
        datadir=str(datadir),
        producer_acks=-1,
        producer_linger=0.01,
        stream_wait_empty=False,
        broker_commit_every=200,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        table_cleanup_interval=60.0,
    )
    ctx = WorkerContext(
        settings=settings,
        app=app,
        topics=_make_topics(app, settings),
        router=router or load_router(settings.ruleset_path, settings.catalogue_path),
        clock=clock or wall_clock,
    )
    for feature in features if features is not None else default_features():
        feature(ctx)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        ctx.assigned_partitions = len(assigned)
        log.info("worker ready: %d partitions assigned", len(assigned))

    return app, ctx


def default_features() -> tuple[Callable[[WorkerContext], None], ...]:
    """``register`` of every module in ``streams/agents/``, in the order of their ``ORDER``."""
    import streams.agents as pkg

    mods = [
        importlib.import_module(f"streams.agents.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
    ]
    return tuple(m.register for m in sorted(mods, key=lambda m: getattr(m, "ORDER", 100)))
