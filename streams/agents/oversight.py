"""Agents for group incidents, stability risk and SLA clocks.

The intake agent's partitions are keyed by street or employer, so it forwards each case to
internal topics, each item to the partition its table key (``rule|key``, ``street/category``,
case id) hashes to, grouped into one message per partition and batch; every table is then
written only by an agent reading a topic co-partitioned with it, which keeps the tables correct
when several workers share the partitions. A timer sends a tick to every partition of the
incident, risk and SLA topics; the tick, handled in stream context, prunes windows, decays risk
and checks deadlines for the rows of that partition its table's due index names
(``streams.dueindex``) and those its batch changed. Each message is handled by a ``TableStep``
(``streams.tablelogic``) against a write-back view of its table, written back once at the end.
Agents never raise on bad input.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust
import orjson

from streams.app import WorkerContext
from streams.dueindex import DueIndex, note_all
from streams.incidents import (
    IncidentConfig,
    candidates,
    member_from_case,
    next_prune,
    state_key,
)
from streams.intake import IntakeResult, Out
from streams.risk import RISK_INPUT, RiskConfig, case_contribution, next_level_drop
from streams.runtime.stream import InFlight, batches
from streams.runtime.tables import key_partitions, rows
from streams.sladue import sla_due_index
from streams.tablelogic import IncidentStep, RiskStep, SlaStep, TableStep
from streams.watch import TICK, incident_config, owned, risk_config, sla_config
from streams.writeback import DELETED, WriteBack

ORDER = 20
log = logging.getLogger("fengqiao.worker.watch")

INCIDENT_INPUT = "internal.incident-cases"
SLA_INPUT = "internal.sla-cases"
LINK_TYPES = ("case.linked.v1", "case.unlinked.v1")
LIFECYCLE_TYPES = ("case.accepted.v1", "case.transferred.v1", "case.concluded.v1", "case.closed.v1")


@dataclass
class Oversight:
    """The three tables, their steps and topics, and the errors counted per table."""

    incidents: IncidentStep
    risk: RiskStep
    sla: SlaStep
    tables: dict[str, Any]
    topics: dict[str, faust.TopicT]
    # per table, which rows each partition's tick must look at
    due: dict[str, DueIndex]
    errors: dict[str, int] = field(default_factory=lambda: {"incidents": 0, "risk": 0, "sla": 0})


def register(ctx: WorkerContext) -> None:
    top = getattr(getattr(ctx.router, "catalogue", None), "top_by_type", None)
    rules = ctx.config.rules
    icfg, rcfg = incident_config(rules, top), risk_config(rules)
    ov = _oversight(ctx, icfg, rcfg, sla_config(rules, top))
    ctx.case_hooks.append(_forwarder(ctx, icfg, rcfg))
    _table_agent(ctx, ov, ov.incidents)
    _table_agent(ctx, ov, ov.risk)
    _table_agent(ctx, ov, ov.sla)
    _lifecycle_agent(ctx, ov)
    _tick_timer(ctx, ov)
    _pages(ctx, ov)


def _oversight(ctx: WorkerContext, icfg: IncidentConfig, rcfg: RiskConfig, scfg: Any) -> Oversight:
    app, c = ctx.app, ctx.config
    n = c.topic_partitions

    def internal(name: str) -> faust.TopicT:
        return app.topic(
            f"{c.app_id}-{name}",
            key_serializer="raw",
            value_serializer="raw",
            internal=True,
            partitions=n,
        )

    def time_known() -> bool:
        return ctx.stream_clock is None or ctx.stream_clock.known

    topics = {
        "incidents": internal("incident-cases"),
        "risk": internal("risk-inputs"),
        "sla": internal("sla-cases"),
    }
    ctx.topics[INCIDENT_INPUT] = topics["incidents"]
    ctx.topics[RISK_INPUT] = topics["risk"]
    ctx.topics[SLA_INPUT] = topics["sla"]
    ctx.internal |= {INCIDENT_INPUT, RISK_INPUT, SLA_INPUT}
    tables = {
        "incidents": app.Table("incidents", default=None, partitions=n),
        "risk": app.Table("risk", default=None, partitions=n),
        "sla": app.Table("sla-clocks", default=None, partitions=n),
    }
    clock = lambda: ctx.clock()  # noqa: E731 - read at each call: tests replace ctx.clock
    return Oversight(
        incidents=IncidentStep(icfg, clock),
        risk=RiskStep(rcfg, clock, time_known),
        sla=SlaStep(scfg, clock, time_known),
        tables=tables,
        topics=topics,
        due={
            "incidents": _rebuilt(
                ctx, tables["incidents"], DueIndex(lambda k, row: next_prune(k, row, icfg))
            ),
            "risk": _rebuilt(
                ctx, tables["risk"], DueIndex(lambda _k, row: next_level_drop(row, rcfg))
            ),
            "sla": _rebuilt(ctx, tables["sla"], sla_due_index(scfg)),
        },
    )


def _rebuilt(ctx: WorkerContext, table: Any, due: DueIndex) -> DueIndex:
    """``due``, rebuilt from ``table`` after a recovery or a rebalance."""

    async def forget(*args: Any, **kwargs: Any) -> None:
        due.invalidate()

    table.on_recover(forget)
    ctx.app.on_partitions_assigned.connect(forget)
    return due


def _forwarder(ctx: WorkerContext, icfg: IncidentConfig, rcfg: RiskConfig) -> Any:
    def forward(result: IntakeResult) -> list[Out]:
        """Called by the intake agent for every message it handled: what to forward."""
        if result.parsed is not None:
            ctx.observe(result.parsed.envelope.time)
        case, decision = result.case, result.decision
        if case is None:
            return []
        outs = [
            Out(
                INCIDENT_INPUT,
                state_key(rule_id, key),
                {"rule_id": rule_id, "key": key, "member": member_from_case(case)},
            )
            for rule_id, key in candidates(case, icfg)
        ]
        outs.append(case_contribution(case, rcfg))
        if decision is not None:
            routed = {
                "case_id": case.case_id,
                "kind": case.kind,
                "street": case.street,
                "category": case.category,
                "committee_id": decision.committee_id,
                "tier": decision.tier,
                "time": case.time.timestamp(),
            }
            outs.append(Out(SLA_INPUT, case.case_id, {"routed": routed}))
        return outs

    return forward


def decode(raw: Any) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)  # what publish wrote with orjson
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def keys_of(table: Any, partition: int, partitions: int) -> list[str]:
    """The table's rows in ``partition``. The memory store notes the partition of every row it
    recovers and ``table_records`` of every row written (all writes go through it), so this reads
    that map instead of hashing every key of every partition on each tick (a stall of a few
    hundred ms every tick round with 40,000 rows)."""
    known = key_partitions(table)
    if known is None:
        return owned(list(table.keys()), partition, partitions)
    return [k for k, p in known.items() if p == partition]


def handle(
    step: TableStep,
    state: Any,
    msg: dict[str, Any],
    keys: Callable[[], list[str]],
    errors: dict[str, int],
    offset: int,
) -> list[Out]:
    """A tick (``keys()`` gives its partition's rows) or a batch of items, against ``state``.
    One bad item is counted and logged, never allowed to stop the agent."""
    label = step.label
    outs: list[Out] = []
    if msg.get("tick"):
        try:
            outs = step.on_tick(state, keys())
        except Exception:
            errors[label] += 1
            log.exception("%s: tick failed at offset %s", label, offset)
    for item in msg.get("items") or ():
        try:
            outs.extend(step.on_item(state, item))
        except Exception:
            errors[label] += 1
            log.exception("%s: item skipped at offset %s", label, offset)
    try:
        outs.extend(step.on_done(state))  # an incident the items updated: announced once
    except Exception:
        errors[label] += 1
        log.exception("%s: the message's last step failed at offset %s", label, offset)
    return outs


def _table_agent(ctx: WorkerContext, ov: Oversight, step: TableStep) -> None:
    """An agent over an internal topic: each message is a tick or a batch of items for one
    partition. The messages buffered together are handled against one write-back view of the
    table per partition, written back once at the end, so the changelog gets one message per
    row the batch changed; the batch's output is delivered while the next is worked on, and
    the batch acknowledged once it is. A tick looks only at the rows the table's due index names
    and those the batch changed, and every row written or looked at is noted again."""
    label, n = step.label, ctx.config.topic_partitions
    table, due = ov.tables[label], ov.due[label]

    @ctx.app.agent(ov.topics[label], name=f"fengqiao.{label}", concurrency=1)
    async def agent(stream: faust.StreamT) -> None:
        in_flight = InFlight()
        async for batch in batches(stream, ctx.config.intake_batch_max, in_flight):
            views: dict[int, WriteBack] = {}
            looked: dict[int, list[str]] = {}  # the rows due ticks took, per partition
            outs: list[Out] = []
            for event in batch:
                msg = decode(event.value)
                offset, partition = event.message.offset, event.message.partition
                if msg is None:
                    ov.errors[label] += 1
                    log.warning("%s: not a JSON object at offset %s", label, offset)
                    continue
                view = views.get(partition)
                if view is None:
                    view = views[partition] = ctx.table_view(table, _fixed(partition))
                taken = looked.setdefault(partition, [])
                keys = functools.partial(due_keys, due, table, view, partition, n, ctx.clock, taken)
                outs.extend(handle(step, view, msg, keys, ov.errors, offset))
                if msg.get("tick"):
                    # a partition's first tick builds its due index from every row (tens of ms
                    # with 30,000 incident windows): let the intake run between one
                    # partition's tick and the next
                    await asyncio.sleep(0)
            for partition, view in views.items():
                again = dict.fromkeys([*looked.get(partition, ()), *view.dirty])
                note_all(due, partition, again, view.get)
            in_flight.put(ctx.delivered(await ctx.queue(outs, list(views.values()))))


def _fixed(partition: int) -> Callable[[str, Any], int]:
    def of(key: str, value: Any) -> int:
        return partition

    return of


def due_keys(
    due: DueIndex,
    table: Any,
    view: WriteBack,
    partition: int,
    partitions: int,
    clock: Callable[[], datetime],
    taken: list[str],
) -> list[str]:
    """The rows a tick of ``partition`` looks at: those due now (the partition's index is
    built from the table on its first tick), and those the batch's earlier messages changed
    (added to ``view``, not yet written back; not those it deleted).
    The due ones are added to ``taken``, to be noted again after the batch."""
    if not due.built(partition):
        reads = rows(table)
        due.build(partition, ((k, reads.get(k)) for k in keys_of(table, partition, partitions)))
    now_due = due.take_due(partition, clock().timestamp())
    taken.extend(now_due)
    changed = [k for k, v in view.dirty.items() if v is not DELETED]
    return list(dict.fromkeys(now_due + changed))


def _lifecycle_agent(ctx: WorkerContext, ov: Oversight) -> None:
    """Accepted, transferred, concluded and closed cases stop or move their SLA clocks."""
    table = ov.tables["sla"]

    @ctx.app.agent(ctx.topics["cases.lifecycle"], name="fengqiao.lifecycle", concurrency=1)
    async def lifecycle(stream: faust.StreamT) -> None:
        async for event in stream.events():
            view = ctx.table_view(table)
            try:
                msg = decode(event.value)
                if msg is not None and msg.get("type") in LINK_TYPES:
                    continue  # reports joining or leaving a case start or stop no clock
                if msg is None or msg.get("type") not in LIFECYCLE_TYPES:
                    raise ValueError("not a lifecycle event")
                data = msg.get("data")
                if not isinstance(data, dict):
                    raise ValueError("lifecycle event without data")
                ov.sla.on_lifecycle(view, msg["type"], data, datetime.fromisoformat(msg["time"]))
            except Exception:
                ov.errors["sla"] += 1
                log.warning("lifecycle: message skipped at offset %s", event.message.offset)
            note_all(ov.due["sla"], event.message.partition, view.dirty, view.get)
            await ctx.publish([], [view])


def _tick_timer(ctx: WorkerContext, ov: Oversight) -> None:
    n = ctx.config.topic_partitions
    topics = [ov.topics["risk"], ov.topics["sla"], ov.topics["incidents"]]

    @ctx.app.timer(interval=ctx.config.watch_tick_seconds)
    async def tick() -> None:
        """Ask every partition to decay its risk rows, check its deadlines, prune windows."""
        for topic in topics:
            for p in range(n):
                await topic.send(key=b"tick", value=TICK, partition=p)


def _pages(ctx: WorkerContext, ov: Oversight) -> None:
    app, tables = ctx.app, ov.tables

    @app.page("/risk")
    async def risk_page(web: Any, request: Any) -> Any:
        return web.json({"now": ctx.clock().isoformat(), "rows": ov.risk.view(tables["risk"])})

    @app.page("/incidents")
    async def incidents_page(web: Any, request: Any) -> Any:
        return web.json(
            {
                "incidents": ov.incidents.snapshot(tables["incidents"]),
                "stats": ov.incidents.stats.__dict__,
                "errors": ov.errors,
            }
        )

    @app.page("/sla")
    async def sla_page(web: Any, request: Any) -> Any:
        return web.json(
            {
                "now": ctx.clock().isoformat(),
                "cases": ov.sla.snapshot(tables["sla"]),
                **ov.sla.stats.__dict__,
            }
        )
