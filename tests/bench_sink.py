"""Sink throughput: pre-publish N ``case.routed.v1`` events, then time the sink draining them.

    python -m tests.bench_sink --events 20000                 # SQLite file
    python -m tests.bench_sink --events 20000 --postgres      # own PostgreSQL server, fsync on
    python -m tests.bench_sink --events 20000 --reports       # plus the intake report of each

Uses KAFKA_BOOTSTRAP_SERVERS when set, else starts a throwaway local broker. The clock runs from
the sink's first write to the last event stored (process start-up and group join excluded).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

from consumers.db import SqlStore
from consumers.sink import Sink
from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings
from fengqiao.wiring import sink_config
from tests.casetools import dispute_report, publish, routed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument(
        "--reports", action="store_true", help="also the intake report of every case (2N events)"
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
        publish(s, "cases.routed", (routed(f"b{i:07d}", f"c{i % 50}") for i in range(n)))
        if args.reports:
            publish(s, "intake.disputes", (dispute_report(f"b{i:07d}") for i in range(n)))
            n *= 2
        store = SqlStore.open(url)
        sink = Sink(sink_config(s, check_committees=False), store)
        first: list[float] = []
        apply = store.apply

        def timed_apply(batch):  # type: ignore[no-untyped-def]
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


if __name__ == "__main__":
    main()
