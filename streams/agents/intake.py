"""The intake agent: validate raw bytes → dead letter | dedupe → Case → route → cases.routed.

Events are handled in batches of what the stream has buffered (one event when traffic is
light); the batch's outputs are sent, then its offsets acknowledged.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import faust

from streams import faustfix
from streams.app import WorkerContext
from streams.intake import TOPIC_TYPES, IntakeProcessor, Out

ORDER = 10
log = logging.getLogger("fengqiao.worker.intake")


def _origin_partition(key: str, first: list[Any]) -> int:
    """The partition of a dedupe entry: that of the message first seen with the id."""
    return int(first[2])


def register(ctx: WorkerContext) -> None:
    """The intake agent: validate → dead letter | dedupe → case → route → cases.routed."""
    app, s = ctx.app, ctx.settings
    seen = app.Table("intake-seen", default=None, partitions=s.topic_partitions)
    processor = IntakeProcessor(
        ctx.router,
        seen,
        dedupe_horizon=timedelta(days=s.dedupe_horizon_days),
        max_future=timedelta(minutes=s.max_future_skew_minutes),
    )
    ctx.intake = processor
    intake_topics = app.topic(
        *[s.topic(name) for name in TOPIC_TYPES],
        key_serializer="raw",
        value_serializer="raw",
    )
    prefix_len = len(s.topic_prefix)

    @app.agent(intake_topics, name="fengqiao.intake", concurrency=1)
    async def intake(stream: faust.StreamT) -> None:
        async for batch in faustfix.batches(stream, s.intake_batch_max):
            outs: list[Out] = []
            # the dedupe ids the batch adds reach the table and its changelog once, with the
            # batch's outputs (the stored origin [time, topic, partition, offset] names the
            # partition)
            view = processor.seen = ctx.table_view(seen, _origin_partition)
            try:
                for event in batch:
                    msg = event.message
                    result = processor.handle(
                        event.value, msg.topic[prefix_len:], msg.partition, msg.offset, ctx.wall()
                    )
                    if result.rejected is not None:
                        log.warning(
                            "dead letter %s[%s]@%s: %s",
                            msg.topic,
                            msg.partition,
                            msg.offset,
                            result.rejected.reason,
                        )
                    outs.extend(result.outs)
                    for hook in ctx.case_hooks:
                        outs.extend(hook(result))
            finally:
                processor.seen = seen
            await ctx.publish(outs, [view])

    @app.timer(interval=3600.0)
    async def expire_seen() -> None:
        view = processor.seen = ctx.table_view(seen, _origin_partition)
        try:
            dropped = processor.expire(ctx.clock())
        finally:
            processor.seen = seen
        await ctx.publish([], [view])
        if dropped:
            log.info("dedupe: forgot %d ids older than the horizon", dropped)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json({**processor.stats.__dict__, "assigned": ctx.assigned_partitions})
