"""Profile a real worker on a backlog with py-spy: where its CPU goes, frame by frame.

``python -m tests.profile_worker --events 20000 [--wave N] [--top 15] [--py-spy PATH] [--out DIR]``

Starts the local broker unless ``KAFKA_BOOTSTRAP_SERVERS`` is set, pre-loads the bench's
events under a fresh topic prefix, then runs one ``fengqiao worker`` under ``py-spy record``
until the group has committed every intake and internal message, then deletes the run's
topics. Prints the CPU per intake
event (the worker's user+system time over the events) and py-spy's top frames by own time and
by total time, as shares of the samples; keeps the raw (collapsed) stacks in ``--out``.
py-spy is a development tool, not a dependency: ``pip install py-spy`` anywhere and pass its
path, or have it on ``PATH``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from fengqiao import localkafka
from fengqiao.admin import create_topics, delete_run, run_topics
from fengqiao.bench import (
    _count_until,
    _preload,
    _producer,
    make_events,
    process_cpu_s,
    wait_drained,
)
from fengqiao.localkafka import free_port
from fengqiao.settings import Settings


def stacks(raw: Path) -> Iterator[tuple[list[str], int]]:
    """py-spy's raw output, one line per distinct stack (``frame;frame;... count``), as the
    stack's frames and its count of samples."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarise(raw: Path, top: int) -> str:
    """Own and total shares of the samples per frame (function and file)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for stack, n in stacks(raw):
        frames = [_short(f) for f in stack]
        # the thread name py-spy puts first is not a frame
        frames = [f for f in frames if not f.startswith("thread ") and not f.startswith("process ")]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    lines = [f"{samples} samples", "", "own time:"]
    lines += [f"  {100 * n / samples:5.1f} %  {f}" for f, n in own.most_common(top)]
    lines += ["", "total time (the frame and what it calls):"]
    lines += [f"  {100 * n / samples:5.1f} %  {f}" for f, n in total.most_common(top + 15)]
    return "\n".join(lines)


# the stage each sample belongs to: the deepest of these frames in its stack (function names
# as py-spy prints them); anything else is "other"
STAGES: tuple[tuple[str, str], ...] = (
    ("intake: validate", "parse_intake_bytes"),
    ("intake: dedupe", "SeenIds."),
    ("intake: case", "case_from_event"),
    ("intake: link", "LinkIndex.decide"),
    ("intake: link", "KeyMaker.keys_for"),
    ("intake: route", "Router.route"),
    ("intake: explain", "Decision.routed_data"),
    ("intake: forward to incidents, risk, SLA", "_forwarder.<locals>.forward"),
    ("incidents", "IncidentStep."),
    ("risk", "RiskStep."),
    ("SLA", "SlaStep."),
    ("SLA", "_lifecycle_agent.<locals>.lifecycle"),
    ("internal topics: decode", "decode"),
    ("send: encode and queue (incl. changelogs)", "WorkerContext.queue"),
    ("send: encode and queue (incl. changelogs)", "WorkerContext.publish"),
    ("Kafka client: produce requests", "Sender."),
    ("Kafka client: produce requests", "SendProduceReqHandler."),
    ("Kafka client: connections (requests out, responses in)", "AIOKafkaConnection."),
    ("Kafka client: connections (requests out, responses in)", "AIOKafkaClient."),
    ("Kafka client: fetch and hand over", "Fetcher._fetcher"),
    ("Kafka client: consumer thread", "ServiceThread._start_thread"),
    ("faust: stream, events, acks", "batches"),
    ("faust: stream, events, acks", "_ack_after"),
    ("timers, pages, commits", "Service._execute_task"),
)


def stages(raw: Path) -> dict[str, float]:
    """Share of the samples per stage (``STAGES``), largest first."""
    counts: Counter[str] = Counter()
    total = 0
    for stack, n in stacks(raw):
        total += n
        names = [f.split(" (", 1)[0] for f in stack]
        found = "other"
        for name in reversed(names):  # the deepest marker wins
            hit = next((s for s, m in STAGES if name == m or name.startswith(m)), None)
            if hit is not None:
                found = hit
                break
        counts[found] += n
    return {s: n / max(total, 1) for s, n in counts.most_common()}


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{name} ({short})"


def records_written(s: Settings) -> dict[str, int]:
    """Records on each of the run's topics (end offsets; every topic of the run is new), by
    name without the run's prefix."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=s.resolved_bootstrap().split(","), **s.kafka_client_config()
    )
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in run_topics(consumer.topics(), s.topic_prefix, s.app_id)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        counts: Counter[str] = Counter()
        for tp, end in consumer.end_offsets(tps).items():
            name = tp.topic.removeprefix(s.topic_prefix).removeprefix(s.app_id + "-")
            counts[name] += end
        return dict(counts)
    finally:
        consumer.close()


def wave_events(n: int, run: str, seed: int = 11) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) for ``n`` wage claims against one employer within the last day:
    one group incident that every one of them joins, as when a factory stops paying."""
    import json
    import random
    from datetime import UTC, datetime, timedelta

    from producers.sample import credit_code, wage_arrears
    from producers.sdk import intake_key, validate
    from schemas.events import INTAKE_KINDS

    rng = random.Random(seed)
    employer = {"name": "Sample Garment Factory", "credit_code": credit_code(rng)}
    start = datetime.now(UTC) - timedelta(days=1)
    out = []
    for i in range(n):
        when = start + timedelta(seconds=i * 80_000 / max(n, 1))
        ev = wage_arrears(rng, f"wave-{run}-{i:06d}", when, employer=employer, street="haibin")
        parsed = validate(ev, "wage-arrears")
        topic = INTAKE_KINDS["wage-arrears"][1]
        out.append((topic, intake_key(parsed).encode(), json.dumps(ev).encode()))
    return out


def publish_paced(s: Settings, events: list[tuple[str, bytes, bytes]], rate: float) -> None:
    """Publish ``events`` at ``rate`` a second, as a live district or province would."""
    prod = _producer(s)
    start = time.monotonic()
    for i, (topic, key, value) in enumerate(events):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        prod.send(s.topic(topic), key=key, value=value)
    prod.flush()
    prod.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--out", type=Path, default=Path("profile-worker"))
    ap.add_argument("--no-spy", action="store_true", help="only the CPU per event")
    ap.add_argument(
        "--paced",
        type=float,
        default=0.0,
        metavar="RATE",
        help="publish the events at RATE a second instead of pre-loading a backlog: where the "
        "CPU goes at a live rate",
    )
    ap.add_argument(
        "--wave",
        type=int,
        default=0,
        metavar="N",
        help="N wage claims against one employer more, after the events: one incident they "
        "all join",
    )
    args = ap.parse_args()

    configured = Settings()
    broker = localkafka.ensure_broker(configured, progress=print)
    base = broker.settings(configured)
    run = uuid.uuid4().hex[:8]
    s = base.model_copy(
        update={"topic_prefix": f"{base.topic_prefix}prof-{run}.", "app_id": f"fengqiao-prof-{run}"}
    )
    args.out.mkdir(parents=True, exist_ok=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        create_topics(s)
        events = make_events(args.events, run) + wave_events(args.wave, run)
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=s.resolved_bootstrap(),
            FENGQIAO_TOPIC_PREFIX=s.topic_prefix,
            FENGQIAO_APP_ID=s.app_id,
            FENGQIAO_HOME=str(s.home),
            FENGQIAO_WORKER_WEB_PORT=str(free_port()),
            FENGQIAO_WORKER_DATA_DIR=str(s.home / f"prof-{run}"),
        )
        raw = args.out / f"worker-{run}.txt"
        log = (args.out / f"worker-{run}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "fengqiao", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_ready(int(env["FENGQIAO_WORKER_WEB_PORT"]), proc)
        pid = proc.pid
        cpu0 = _cpu(pid)
        spy = None
        if not args.no_spy:
            # attached once the worker is ready: start-up is not in the profile; --gil samples
            # only the thread holding the GIL, i.e. where the Python CPU goes
            spy = subprocess.Popen(
                [args.py_spy, "record", "--gil", "--format", "raw", "--rate", str(args.rate)]
                + ["--output", str(raw), "--pid", str(pid)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            time.sleep(1.0)
        if args.paced:
            print(f"worker ready; publishing {len(events)} events at {args.paced:g}/s")
            publish_paced(s, events, args.paced)
            published = time.monotonic()
        else:
            print(f"worker ready; pre-loading {len(events)} events")
            _preload(s, events, s.topic)
        count, first, last, rate = _count_until(s, s.topic("cases.routed"), len(events), 600)
        drained = wait_drained(s, timeout_s=600)
        if args.paced:
            # published at the pace, so the routed count only says that nothing was left behind
            print(f"routed {count}; all work committed {drained - published:.1f} s after the last")
        else:
            print(
                f"routed {count} at {rate:,.0f}/s; all work committed {drained - first:.1f} s after"
            )
        cpu = _cpu(pid) - cpu0
        print(
            f"worker CPU from ready to drained: {cpu:.1f} s = "
            f"{1e6 * cpu / len(events):.0f} µs per intake event"
        )
        print("records written per intake event, by topic (intake: the load itself):")
        for name, n in sorted(records_written(s).items(), key=lambda kv: -kv[1]):
            print(f"  {n / len(events):6.3f}  {name}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if spy is not None:
            print(summarise(raw, args.top))
            per_event = 1e6 * cpu / len(events)
            print("\nstages (share of the samples × CPU per event):")
            for stage, share in stages(raw).items():
                print(f"  {share * per_event:6.1f} µs  {100 * share:5.1f} %  {stage}")
            print(f"raw stacks: {raw}")
    finally:
        if proc is not None and proc.poll() is None:  # failed midway: a live worker would
            proc.send_signal(signal.SIGTERM)  # outlast the script and recreate its topics
            proc.wait(timeout=60)
        delete_run(s, who="profile", run=run, progress=print)
        shutil.rmtree(s.home / f"prof-{run}", ignore_errors=True)  # the worker's data dir
        broker.stop()


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    cpu = process_cpu_s(pid)
    if cpu is None:
        raise SystemExit("profile_worker reads the worker's CPU from /proc: Linux only")
    return cpu


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the worker exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError("the worker was not ready in time")


if __name__ == "__main__":
    main()
