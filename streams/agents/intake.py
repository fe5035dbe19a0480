"""The intake agent: validate raw bytes → dead letter | dedupe → Case → route → cases.routed.

Events are handled in batches of what the stream has buffered (one event when traffic is
light); the batch's outputs are sent, and its offsets acknowledged once the broker has them,
while the next batch is already worked on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import faust

from streams.app import WorkerContext
from streams.intake import TOPIC_TYPES, IntakeProcessor, Out
from streams.linking import LinkIndex
from streams.linking import row_partition as link_partition
from streams.runtime import patches
from streams.runtime.stream import InFlight, batches
from streams.runtime.tables import rows
from streams.seen import SeenIds, row_partition

ORDER = 10
log = logging.getLogger("fengqiao.worker.intake")


def register(ctx: WorkerContext) -> None:
    """The intake agent: validate → dead letter | dedupe → case → route → cases.routed."""
    app, s = ctx.app, ctx.config
    table = app.Table("intake-seen", default=None, partitions=s.topic_partitions)
    seen = SeenIds(table)
    # recovery loads rows and a rebalance drops those of revoked partitions: index them again
    table.on_recover(_async(seen.invalidate))
    # one row per open case and the keys of its reports: which case a new report joins
    link_table = app.Table("intake-links", default=None, partitions=s.topic_partitions)
    links = LinkIndex(link_table, s.linking, reads=rows(link_table))
    link_table.on_recover(_async(links.invalidate))
    processor = IntakeProcessor(
        ctx.router,
        seen,
        dedupe_horizon=timedelta(days=s.dedupe_horizon_days),
        max_future=timedelta(minutes=s.max_future_skew_minutes),
        links=links if s.linking.enabled else None,
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
        # each batch's output is delivered while the next batch is worked on; a batch is
        # acknowledged only once its own output is delivered
        in_flight = InFlight()
        async for batch in batches(stream, s.intake_batch_max, in_flight):
            outs: list[Out] = []
            now = ctx.wall()  # the batch was fetched together: one reading of the clock
            for event in batch:
                msg = event.message
                result = processor.handle(
                    event.value, msg.topic[prefix_len:], msg.partition, msg.offset, now
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
            # the ids the batch saw first reach the table and its changelog as one row per
            # partition, with the batch's outputs
            rows = ctx.table_view(table, row_partition)
            for key, row in seen.take():
                rows[key] = row
            sent = await ctx.queue(outs, [rows, link_rows(ctx, link_table, links)])
            in_flight.put(ctx.delivered(sent))

    @app.timer(interval=3600.0)
    async def expire_seen() -> None:
        cutoff = (ctx.clock() - processor.horizon).timestamp()
        keys, dropped = seen.expire(cutoff)
        rows = ctx.table_view(table, row_partition)
        for key in keys:
            del rows[key]
        expired = links.expire((ctx.clock() - links.cfg.horizon).timestamp())
        await ctx.publish([], [rows, link_rows(ctx, link_table, links)])
        if dropped:
            log.info("dedupe: forgot %d ids older than the horizon", dropped)
        if expired:
            log.info("linking: forgot %d cases past the horizon", expired)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub types no async receiver
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        seen.invalidate()
        links.invalidate()

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json(
            {
                **processor.stats.__dict__,
                "assigned": ctx.assigned_partitions,
                "dedupe_ids": len(seen.index),
                "dedupe_index_rebuilds": seen.rebuilds,
                "links": links.stats.__dict__,
                # read from faust's classes: proves the offset fixes are in place
                "runtime_patches": patches.installed(),
            }
        )


def link_rows(ctx: WorkerContext, table: Any, links: LinkIndex) -> Any:
    """The link rows changed since the last call, as a write-back view for ``ctx.publish``."""
    rows = ctx.table_view(table, link_partition)
    for key, row in links.take():
        if row is None:
            if key in rows:
                del rows[key]
        else:
            rows[key] = row
    return rows


def _async(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        fn()

    return call
