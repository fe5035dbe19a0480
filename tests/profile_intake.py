"""Profile the pure intake path (no Kafka): µs per event per stage, and cProfile's top frames.

``python -m tests.profile_intake --events 5000 [--top 10]``: the IntakeProcessor with link
index over seeded sample events, each stage timed alone on the same inputs, then the whole
``handle`` plus the output's orjson encoding under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from producers.sample import random_event
from schemas.parse import parse_intake_bytes
from streams.cases import case_from_event, case_to_row
from streams.intake import IntakeProcessor
from streams.linking import LinkConfig, LinkIndex
from streams.linkkeys import KeyMaker
from streams.routing import load_router

TOPIC = {
    "dispute": "intake.disputes",
    "petition": "intake.petitions",
    "wage-arrears": "intake.wage-arrears",
}


def sample(n: int) -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    when = datetime(2023, 3, 1, 9, 30, tzinfo=UTC)
    out = []
    for i in range(n):
        kind, ev = random_event(rng, i, when=when + timedelta(seconds=i), run="prof")
        out.append((TOPIC[kind], json.dumps(ev, ensure_ascii=False).encode()))
    return out


def timed(fn: Callable[[], Any], n: int) -> float:
    """CPU µs per event, the collector off: its passes over everything the stages made before
    would be charged to whichever stage they fell in (the worker raises its thresholds too)."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        fn()
        return (time.process_time() - start) / n * 1e6
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    events = sample(args.events)
    n = len(events)
    now = datetime(2023, 3, 2, tzinfo=UTC)
    router = load_router()
    streets = router.catalogue.streets
    parsed = [parse_intake_bytes(raw, now=now) for _, raw in events]
    cases = [case_from_event(p, streets) for p in parsed]
    keys = KeyMaker(LinkConfig().salt)
    decisions = [router.route(c) for c in cases if c is not None]

    def link_all() -> None:
        index = LinkIndex({}, LinkConfig())
        for p, c in zip(parsed, cases, strict=True):
            if c is not None:
                ks = keys.keys_for(c.kind, p.payload)
                index.decide(
                    c.case_id,
                    c.kind,
                    ks,
                    c.time.timestamp(),
                    c.channel,
                    0,
                    lambda c=c: case_to_row(c),
                )

    stages = {
        "validate (parse_intake_bytes)": lambda: [
            parse_intake_bytes(raw, now=now) for _, raw in events
        ],
        "case (case_from_event)": lambda: [case_from_event(p, streets) for p in parsed],
        "link (keys + decide)": link_all,
        "route (router.route)": lambda: [router.route(c) for c in cases if c is not None],
        "explain/encode (routed_data + orjson)": lambda: [
            orjson.dumps(d.routed_data(c))
            for d, c in zip(decisions, [c for c in cases if c is not None], strict=True)
        ],
    }
    print(f"{n} events; µs CPU per event per stage (best of 3, collector off):")
    for name, fn in stages.items():
        print(f"  {name:40s} {min(timed(fn, n) for _ in range(3)):8.1f}")

    def whole() -> None:
        proc = IntakeProcessor(router, {}, links=LinkIndex({}, LinkConfig()))
        for offset, (topic, raw) in enumerate(events):
            for out in proc.handle(raw, topic, 0, offset, now).outs:
                orjson.dumps(out.value)

    best = min(timed(whole, n) for _ in range(3))
    print(f"  {'whole handle + encode (dedupe incl.)':40s} {best:8.1f}")
    prof = cProfile.Profile()
    prof.enable()
    whole()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.top)
    print(buf.getvalue())


if __name__ == "__main__":
    main()
