"""The bench's latency phase with and without the case-store sink running beside the worker:
what the sink's CPU costs the latency to ``cases.routed`` when both share a small machine.

    python -m tests.latency_beside_sink            # worker only
    python -m tests.latency_beside_sink --sink     # worker and sink, as ``fengqiao bench`` runs

Uses the bench's own parts (``fengqiao.bench``): a warm worker (10,000 events through it
first), then 20 s of events at 500/s. Without the sink nothing reaches the store, so the store
poller waits out its 60 s and reports nothing.
"""

from __future__ import annotations

import argparse
import uuid

from fengqiao import bench
from fengqiao.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", action="store_true", help="run the sink beside the worker")
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    run = uuid.uuid4().hex[:8]
    s = bench.run_settings(Settings(), run, 1)
    bench.create_topics(s)
    pool = bench.Workers(s, 1, s.home / "logs")
    sink = bench.SinkProcess(s, s.home / "logs")
    try:
        bench.run_pipeline(s, bench.make_events(10_000, run), pool, print)  # warms the worker
        if args.sink:
            sink.start()
            bench.wait_drained(s, timeout_s=900, group=sink.group, alive=sink.check)
        sample = bench.run_latency(s, args.rate, args.seconds, run, print)
    finally:
        sink.stop()
        pool.stop()
        bench.delete_run(s, who="latency", run=run, progress=print)
        bench.remove_store(s, run, print)
    p = bench.percentiles
    print(
        f"{'with' if args.sink else 'without'} the sink: to cases.routed {p(sample.routed)}, "
        f"publish to the worker's output {p(sample.to_output)}"
        + (f", to the store {p(sample.stored)}" if sample.stored else "")
    )


if __name__ == "__main__":
    main()
