"""The intake hop written on quixstreams, the stream library a user would most likely pick
instead, against the worker on the same broker and the same events, each beside the relay.

The peer does what the issue that asked for it names: the same validation
(``parse_intake_bytes``), dedupe by event id (in quixstreams' state), routing with the
project's own router and its routed event (``Decision.routed_data``), the employer window (the
``wage_employer`` rule's: three cases and ten people of one employer within seven days, keyed
by employer through a ``group_by``) and the risk update (a count per street and category,
through a second ``group_by``). It does not link reports into cases, run SLA clocks or raise
the other incident rules; the worker does all of that too.

It is an experiment, not a dependency: quixstreams must be importable beside the project
(``pip install --target DIR quixstreams``, then remove from DIR what the project's own
environment has, pydantic first; ``PYTHONPATH=DIR``).

    PYTHONPATH=DIR python -m tests.peer_quixstreams --events 30000

It prints, in this order on one broker: the relay, the worker's pipeline (one worker, as
``fengqiao bench`` runs it), the peer's. Each rate is from its first record to its last
work done, the peer's with its state committed (``processing_guarantee`` at-least-once).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from fengqiao import bench, localkafka
from fengqiao.settings import Settings
from tests import apart

WINDOW_S = timedelta(days=7).total_seconds()
MIN_CASES, MIN_PEOPLE = 3, 10


def expected(events: list[tuple[str, bytes, bytes]]) -> dict[str, int]:
    """What the peer must have done for ``events``: routed cases, employer items."""
    from schemas.parse import parse_intake_bytes
    from streams.cases import case_from_event

    cases = employers = 0
    for _topic, _key, value in events:
        case = case_from_event(parse_intake_bytes(value))
        if case is None:
            continue
        cases += 1
        employers += case.employer_key is not None
    return {"cases": cases, "employers": employers}


def peer(servers: str, prefix: str, group: str, state_dir: str, want: dict[str, int]) -> dict:
    """Run the peer until it has routed every case and applied every employer and risk item;
    CPU and wall seconds from its first record."""
    import orjson
    from quixstreams import Application  # type: ignore[import-not-found]

    from schemas.parse import EventRejected, parse_intake_bytes
    from streams.cases import case_from_event
    from streams.routing import load_router

    router = load_router()
    app = Application(
        broker_address=servers,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        producer_extra_config={"linger.ms": 5, "batch.size": 256 * 1024},
        loglevel="WARNING",
    )
    src = app.topic(f"{prefix}in", value_deserializer="bytes", key_deserializer="bytes")
    routed_t = app.topic(f"{prefix}routed", value_serializer="bytes", key_serializer="str")
    seen = {"first": None, "cpu0": None, "routed": 0, "employers": 0, "risk": 0, "routed_at": 0.0}

    def done() -> bool:
        return (
            seen["routed"] >= want["cases"]
            and seen["employers"] >= want["employers"]
            and seen["risk"] >= want["cases"]
        )

    def intake(value: bytes, state: Any) -> dict | None:
        if seen["first"] is None:
            seen["first"], seen["cpu0"] = time.monotonic(), time.process_time()
        try:
            event = parse_intake_bytes(value)
        except EventRejected:
            return None
        event_id = event.envelope.id
        if state.get(event_id) is not None:  # a repeat
            return None
        state.set(event_id, 1)
        case = case_from_event(event)
        if case is None:
            return None
        decision = router.route(case)
        return {
            "case_id": case.case_id,
            "routed": decision.routed_data(case),
            "employer": case.employer_key,
            "people": case.head_count,
            "time": case.time.timestamp(),
            "street": case.street,
            "category": case.category,
        }

    def count(name: str) -> Any:
        def counted(value: Any) -> Any:
            seen[name] += 1
            if name == "routed":
                seen["routed_at"] = time.monotonic()
            if done():
                app.stop()
            return value

        return counted

    def employer_window(item: dict, state: Any) -> dict | None:
        recent = [r for r in (state.get("recent") or []) if item["time"] - r[0] <= WINDOW_S]
        recent.append((item["time"], item["people"]))
        state.set("recent", recent)
        big = len(recent) >= MIN_CASES and sum(p for _t, p in recent) >= MIN_PEOPLE
        if big and not state.get("raised"):
            state.set("raised", True)
            return {"employer": item["employer"], "cases": len(recent)}
        return None

    def risk(item: dict, state: Any) -> dict:
        n = (state.get("n") or 0) + 1
        state.set("n", n)
        return {"cell": f"{item['street']}|{item['category']}", "n": n}

    sdf = app.dataframe(src)
    sdf = sdf.apply(intake, stateful=True).filter(lambda v: v is not None)
    out = sdf.apply(lambda v: orjson.dumps(v["routed"]))
    out = out.update(count("routed"))
    out.to_topic(routed_t, key=lambda _v: "case")
    emp = sdf.filter(lambda v: v["employer"] is not None).apply(
        lambda v: {k: v[k] for k in ("employer", "people", "time")}
    )
    emp = emp.group_by(lambda v: v["employer"], name="employer")
    emp = emp.apply(employer_window, stateful=True).update(count("employers"))
    cells = sdf.apply(lambda v: {k: v[k] for k in ("street", "category")})
    cells = cells.group_by(lambda v: f"{v['street']}|{v['category']}", name="cell")
    cells = cells.apply(risk, stateful=True).update(count("risk"))
    app.run()
    end = time.monotonic()
    if not done():
        raise RuntimeError(f"the peer stopped early: {seen}")
    assert seen["first"] is not None and seen["cpu0"] is not None
    return {
        "cpu_s": time.process_time() - seen["cpu0"],
        "wall_s": end - seen["first"],
        "routed_s": seen["routed_at"] - seen["first"],
        "routed": seen["routed"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30000)
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        servers, prefix, group, state_dir, want = args.child
        print(json.dumps(peer(servers, prefix, group, state_dir, json.loads(want))))
        return
    apart.require("peer_quixstreams", "quixstreams", "quixstreams")

    configured = Settings()
    broker = localkafka.ensure_broker(configured, progress=print)
    run = uuid.uuid4().hex[:8]
    s = bench.run_settings(broker.settings(configured), run, 1)
    events = bench.make_events(args.events, run)
    want = expected(events)
    prefix = f"{s.topic_prefix}peer."
    pool = bench.Workers(s, 1, s.home / "logs")
    try:
        bench.create_topics(s)
        relay = bench.run_baseline(s, events, s.topic_partitions, print)
        worker_cpu: list[float] = []
        full, routed = bench.run_pipeline(s, events, pool, print, worker_cpu)
        pool.stop()
        worker_us = bench.per_event_us(worker_cpu, len(events))

        apart.make_topics(s, [f"{prefix}in", f"{prefix}routed"])
        bench._preload(s, events, lambda _t: f"{prefix}in")
        state_dir = s.home / "peer-state" / run
        print(f"peer: quixstreams on {len(events)} events ({want['cases']} cases)")
        got = apart.run_child(
            "tests.peer_quixstreams",
            args.events,
            [s.resolved_bootstrap(), prefix, f"{s.app_id}-peer", str(state_dir), json.dumps(want)],
        )
        peer_full = len(events) / got["wall_s"]
        peer_routed = len(events) / got["routed_s"]
        peer_us = 1e6 * got["cpu_s"] / len(events)
        print(f"relay (aiokafka): {relay:,.0f} events/s")
        print(
            f"worker: {full:,.0f} events/s through the whole pipeline, {routed:,.0f} to routed, "
            f"{worker_us:.0f} µs CPU an event"
        )
        print(
            f"quixstreams peer: {peer_full:,.0f} events/s with its windows done, "
            f"{peer_routed:,.0f} to routed, {peer_us:.0f} µs CPU an event"
        )
        print(
            f"worker / peer: {full / peer_full:.2f} (whole), {routed / peer_routed:.2f} (to routed)"
        )
    finally:
        pool.stop()
        bench.delete_run(s, who="peer", run=run, progress=print)
        bench.remove_store(s, run, print)
        broker.stop()


if __name__ == "__main__":
    main()
