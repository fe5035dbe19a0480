"""The linking agent: lifecycle events that change which reports join which case.

A concluded or closed case takes no more reports; two cases a mediator linked by hand take
each other's later reports as one; an unlinked report (a mediator said "not the
same matter") is routed as a case of its own and counted, from then on, in incident windows
and risk like any new case. The decisions are the intake processor's (``streams.intake``);
this agent only decodes, calls them and publishes.
"""

from __future__ import annotations

import logging

import faust
import orjson

from streams.agents.intake import link_rows
from streams.app import WorkerContext
from streams.intake import IntakeResult, Out

ORDER = 30
log = logging.getLogger("fengqiao.worker.links")

CLOSING = ("case.concluded.v1", "case.closed.v1")
UNLINKED = "case.unlinked.v1"
LINKED = "case.linked.v1"


def register(ctx: WorkerContext) -> None:
    processor = ctx.intake
    if processor is None or processor.links is None:
        return
    links = processor.links
    table = links.rows
    skipped = {"n": 0}

    @ctx.app.agent(ctx.topics["cases.lifecycle"], name="fengqiao.links", concurrency=1)
    async def linking(stream: faust.StreamT) -> None:
        async for event in stream.events():
            outs: list[Out] = []
            try:
                msg = orjson.loads(event.value)
                type_ = msg.get("type")
                if type_ not in (*CLOSING, UNLINKED, LINKED):
                    continue
                data = msg["data"]
                if type_ == LINKED:
                    # the worker's own links name no actor; a mediator's link of two cases does
                    if not data.get("actor"):
                        continue
                    processor.merged(str(data["case_id"]), str(data["report_id"]))
                elif type_ in CLOSING:
                    processor.closed(str(data["case_id"]))
                else:
                    result: IntakeResult = processor.unlink(
                        str(data["case_id"]), str(data["report_id"])
                    )
                    outs.extend(result.outs)
                    if result.case is not None:
                        for hook in ctx.case_hooks:
                            outs.extend(hook(result))
            except (TypeError, ValueError, KeyError, AttributeError):
                # a malformed lifecycle event changes no link; the sink dead-letters it
                skipped["n"] += 1
                log.warning("links: message skipped at offset %s", event.message.offset)
                continue
            await ctx.publish(outs, [link_rows(ctx, table, links)])
