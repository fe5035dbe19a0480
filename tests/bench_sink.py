"""Sink throughput: pre-publish N ``case.routed.v1`` events, then time the sink draining them.

    python -m tests.bench_sink --events 20000                 # SQLite file
    python -m tests.bench_sink --events 20000 --postgres      # own PostgreSQL server, fsync on
    python -m tests.bench_sink --events 20000 --reports       # plus the intake report of each
    python -m tests.bench_sink --events 20000 --real [--reports]  # the worker's own output

``--real``: the bench's intake events (``fengqiao.bench.make_events``) routed by the default
ruleset through the worker's own intake code, so each routed case is the worker's (about 3.9 kB,
with its reasons, rejected rules and explanation) and each report the intake event it came
from; without it, a small hand-written routed case (one reason, one rejected rule).

Uses KAFKA_BOOTSTRAP_SERVERS when set, else starts a throwaway local broker. The clock runs from
the sink's first write to the last event stored (process start-up and group join excluded).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consumers.db import SqlStore
from consumers.sink import Sink
from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings
from fengqiao.wiring import configure_sink_runtime, sink_config
from tests.casetools import dispute_report, publish, routed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument(
        "--reports", action="store_true", help="also the intake report of every case (2N events)"
    )
    ap.add_argument(
        "--real", action="store_true", help="the worker's own routed cases and their reports"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fq-bench-"))
    base = Settings()
    broker_dir = None
    bootstrap = base.kafka_bootstrap_servers
    if not bootstrap:
        broker_dir = tmp / "kafka"
        bootstrap, _ = localkafka.start(
            data_dir=broker_dir,
            cache_dir=base.cache_dir,
            version=base.kafka_version,
            port=localkafka.free_port(),
            partitions=4,
        )
    pg = None
    try:
        if args.postgres:
            from tests.conftest_pg import PgServer

            pg = PgServer(fsync=True)
            pg.start()
            url = pg.create_database("bench")
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        tag = uuid.uuid4().hex[:8]
        s = Settings(
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=f"bench{tag}.",
            app_id=f"bench-{tag}",
            home=tmp / "home",
            topic_partitions=4,
            database_url=url,
            sink_batch_size=args.batch,
        )
        create_topics(s)
        n = args.events
        if args.real:
            outputs, reports = worker_output(n, tag)
            n = len(outputs)
            publish(s, "cases.routed", outputs)  # keyed by committee, as the worker does
            if args.reports:
                for topic in sorted({t for t, _ in reports}):
                    publish(s, topic, [raw for t, raw in reports if t == topic])
                n *= 2
            # what was published is not the sink's: its heap would weigh on the collector
            del outputs, reports
        else:
            publish(s, "cases.routed", (routed(f"b{i:07d}", f"c{i % 50}") for i in range(n)))
            if args.reports:
                publish(s, "intake.disputes", (dispute_report(f"b{i:07d}") for i in range(n)))
                n *= 2
        gc.collect()
        configure_sink_runtime(s)  # as ``fengqiao sink`` does
        store = SqlStore.open(url)
        sink = Sink(sink_config(s, check_committees=False), store)
        first: list[float] = []
        apply = store.apply

        def timed_apply(batch: Any) -> Any:
            if not first:
                first.append(time.perf_counter())
            return apply(batch)

        store.apply = timed_apply  # type: ignore[method-assign]
        runner = threading.Thread(target=sink.run, daemon=True)
        runner.start()
        while sink.stats.applied < n:
            time.sleep(0.01)
        elapsed = time.perf_counter() - first[0]
        sink.stop.set()
        runner.join(timeout=30)
        assert store.count("cases") == (n // 2 if args.reports else n)
        if args.reports:
            assert store.count("reports") == n // 2
        backend = "postgresql" if args.postgres else "sqlite"
        if args.reports:
            backend += " with reports"
        print(
            f"{backend}: {n} events in {elapsed:.2f}s = {n / elapsed:.0f} events/s "
            f"(batch {args.batch}, {sink.stats.batches} transactions)"
        )
        store.close()
    finally:
        if pg is not None:
            pg.destroy()
        if broker_dir is not None:
            localkafka.stop(broker_dir)


def worker_output(n: int, run: str) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """The routed cases the worker's intake code makes of ``n`` bench events (consultations
    open none), and the intake events of those cases: (topic, raw bytes)."""
    from fengqiao.bench import make_events
    from streams.intake import IntakeProcessor
    from streams.routing import load_router

    processor = IntakeProcessor(load_router(), {})
    now = datetime.now(UTC) + timedelta(minutes=1)
    outputs: list[dict[str, Any]] = []
    reports: list[tuple[str, bytes]] = []
    for i, (topic, _key, raw) in enumerate(make_events(n, run)):
        result = processor.handle(raw, topic, 0, i, now)
        routed_outs = [o.value for o in result.outs if o.topic == "cases.routed"]
        if routed_outs:
            outputs.extend(routed_outs)
            reports.append((topic, raw))
    return outputs, reports


if __name__ == "__main__":
    main()
