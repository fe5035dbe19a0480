"""Agents for group incidents, stability risk and SLA clocks.

The intake agent's partitions are keyed by street or employer, so it forwards each case to
internal topics, each item to the partition its table key (``rule|key``, ``street/category``,
case id) hashes to, grouped into one message per partition and batch; every table is then
written only by an agent reading a topic co-partitioned with it, which keeps the tables correct
when several workers share the partitions. A timer sends a tick
to every partition of the risk and SLA topics; the tick, handled in stream context, decays risk
and checks deadlines for the rows that partition owns. Agents never raise on bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust
import orjson

from streams.app import WorkerContext
from streams.incidents import IncidentDetector, candidates, member_from_case, state_key
from streams.intake import IntakeResult, Out
from streams.risk import RISK_INPUT, RiskTable, case_contribution
from streams.sla import SlaClocks
from streams.watch import TICK, incident_config, owned, risk_config, sla_config

ORDER = 20
log = logging.getLogger("fengqiao.worker.watch")

INCIDENT_INPUT = "internal.incident-cases"
SLA_INPUT = "internal.sla-cases"
LIFECYCLE_TYPES = ("case.accepted.v1", "case.transferred.v1", "case.concluded.v1", "case.closed.v1")


def register(ctx: WorkerContext) -> None:
    app, s = ctx.app, ctx.settings
    n = s.topic_partitions

    def internal(name: str) -> faust.TopicT:
        return app.topic(
            f"{s.app_id}-{name}",
            key_serializer="raw",
            value_serializer="raw",
            internal=True,
            partitions=n,
        )

    ctx.topics[INCIDENT_INPUT] = incident_topic = internal("incident-cases")
    ctx.topics[RISK_INPUT] = risk_topic = internal("risk-inputs")
    ctx.topics[SLA_INPUT] = sla_topic = internal("sla-cases")

    catalogue = getattr(ctx.router, "catalogue", None)
    top = getattr(catalogue, "top_by_type", None)
    icfg, rcfg = incident_config(s, top), risk_config(s)
    detector = IncidentDetector(app.Table("incidents", default=None, partitions=n), icfg)
    risk = RiskTable(app.Table("risk", default=None, partitions=n), rcfg)
    sla = SlaClocks(app.Table("sla-clocks", default=None, partitions=n), sla_config(s, top))
    errors = {"incidents": 0, "risk": 0, "sla": 0}

    ctx.internal |= {INCIDENT_INPUT, RISK_INPUT, SLA_INPUT}

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
                {"rule_id": rule_id, "key": key, "member": m},
            )
            for rule_id, key in candidates(case, icfg)
            for m in [member_from_case(case)]
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

    ctx.case_hooks.append(forward)

    def decode(raw: Any) -> dict[str, Any] | None:
        try:
            value = orjson.loads(raw)  # what publish wrote with orjson
        except (TypeError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def keys_of(table: Any, partition: int) -> list[str]:
        """The table's rows in ``partition``. The memory store notes the partition of every
        row it recovers and ``write_table`` of every row written (all writes go through it),
        so this reads that map instead of hashing every key of every partition on each
        tick (a stall of a few hundred ms every tick round with 40,000 rows)."""
        known = getattr(table.data, "_key_partition", None)
        if known is None:
            return owned(list(table.keys()), partition, n)
        return [k for k, p in known.items() if p == partition]

    def guarded_agent(
        topic: faust.TopicT,
        label: str,
        holder: Any,
        attr: str,
        on_item: Callable[[dict[str, Any]], list[Out]],
        on_tick: Callable[[list[str]], list[Out]],
    ) -> None:
        """An agent over an internal topic: a tick, or a batch of items for one partition.

        Either is handled against a write-back view of the table (``holder.attr``), which is
        written back once at the end, so the table's changelog gets one message per row the
        message changed. A tick gets the keys of the rows in its partition. One bad item is
        counted and logged, never allowed to stop the agent.
        """
        table = getattr(holder, attr)

        @app.agent(topic, name=f"fengqiao.{label}", concurrency=1)
        async def agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                outs: list[Out] = []
                msg = decode(event.value)
                offset = event.message.offset
                if msg is None:
                    errors[label] += 1
                    log.warning("%s: not a JSON object at offset %s", label, offset)
                    continue
                view = ctx.table_view(table)
                setattr(holder, attr, view)
                try:
                    if msg.get("tick"):
                        try:
                            outs = on_tick(keys_of(table, event.message.partition))
                        except Exception:
                            errors[label] += 1
                            log.exception("%s: tick failed at offset %s", label, offset)
                    for item in msg.get("items") or ():
                        try:
                            outs.extend(on_item(item))
                        except Exception:
                            errors[label] += 1
                            log.exception("%s: item skipped at offset %s", label, offset)
                finally:
                    setattr(holder, attr, table)
                await ctx.publish(outs, [view])

    def time_known() -> bool:
        return ctx.stream_clock is None or ctx.stream_clock.known

    def incident_tick(keys: list[str]) -> list[Out]:
        detector.prune(ctx.clock(), keys)
        return []

    def risk_tick(keys: list[str]) -> list[Out]:
        return risk.refresh(ctx.clock(), keys) if time_known() else []

    def sla_tick(keys: list[str]) -> list[Out]:
        return sla.check(ctx.clock(), keys) if time_known() else []

    def sla_item(msg: dict[str, Any]) -> list[Out]:
        sla.routed(msg["routed"])
        return []

    guarded_agent(
        incident_topic,
        "incidents",
        detector,
        "state",
        lambda m: detector.handle(m["rule_id"], m["key"], m["member"], ctx.clock()),
        incident_tick,
    )
    guarded_agent(risk_topic, "risk", risk, "rows", risk.add, risk_tick)
    guarded_agent(sla_topic, "sla", sla, "rows", sla_item, sla_tick)

    @app.agent(ctx.topics["cases.lifecycle"], name="fengqiao.lifecycle", concurrency=1)
    async def lifecycle(stream: faust.StreamT) -> None:
        from datetime import datetime

        rows = sla.rows
        async for event in stream.events():
            view = sla.rows = ctx.table_view(rows)
            try:
                msg = decode(event.value)
                if msg is None or msg.get("type") not in LIFECYCLE_TYPES:
                    raise ValueError("not a lifecycle event")
                data = msg.get("data")
                if not isinstance(data, dict):
                    raise ValueError("lifecycle event without data")
                sla.lifecycle(msg["type"], data, datetime.fromisoformat(msg["time"]))
            except Exception:
                errors["sla"] += 1
                log.warning("lifecycle: message skipped at offset %s", event.message.offset)
            finally:
                sla.rows = rows
            await ctx.publish([], [view])

    @app.timer(interval=s.watch_tick_seconds)
    async def tick() -> None:
        """Ask every partition to decay its risk rows, check its deadlines, prune windows."""
        for topic in (risk_topic, sla_topic, incident_topic):
            for p in range(n):
                await topic.send(key=b"tick", value=TICK, partition=p)

    @app.page("/risk")
    async def risk_page(web: Any, request: Any) -> Any:
        return web.json({"now": ctx.clock().isoformat(), "rows": risk.view(ctx.clock())})

    @app.page("/incidents")
    async def incidents_page(web: Any, request: Any) -> Any:
        return web.json(
            {"incidents": detector.snapshot(), "stats": detector.stats.__dict__, "errors": errors}
        )

    @app.page("/sla")
    async def sla_page(web: Any, request: Any) -> Any:
        return web.json(
            {"now": ctx.clock().isoformat(), "cases": sla.snapshot(), **sla.stats.__dict__}
        )
