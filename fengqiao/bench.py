"""``fengqiao bench``: the pipeline's throughput and latency next to a raw Kafka relay, one run.

Baseline: an aiokafka consume → decode JSON → add a field → produce relay over the same events
on the same broker. Pipeline: real ``fengqiao worker`` processes (validation, dedupe, routing,
incident windows, risk) from the intake topics to ``cases.routed``. Both are measured on a
pre-loaded backlog, first output to last, so start-up does not count; latency is measured at a
fixed offered rate against warm workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError

from fengqiao.admin import admin_client, create_topics, delete_run
from fengqiao.settings import Settings
from producers.sample import random_event
from producers.sdk import intake_key, kind_for_type, validate
from schemas.events import INTAKE_KINDS

Progress = Callable[[str], None]


@dataclass
class BenchResult:
    events: int
    offered_rate: float
    workers: int
    cores: int
    partitions: int
    baseline_eps: float
    pipeline_eps: float
    routed_eps: float
    ratio: float
    latency_ms: dict[str, float]
    latency_events: int
    kafka: str
    started_at: str
    notes: list[str] = field(default_factory=list)
    # publish → the case readable in the case store, written there by a ``fengqiao sink``
    store_latency_ms: dict[str, float] = field(default_factory=dict)
    store_latency_events: int = 0
    # the latency to cases.routed in two hops, by the routed record's timestamp (the worker's
    # clock when it produced the case): publish → the worker's output (fetching, waiting and
    # processing in the worker), and the worker's output → the bench reading it (the
    # producer's send, the broker, the reader's fetch); one machine, one clock, ±1 ms
    to_output_ms: dict[str, float] = field(default_factory=dict)
    output_to_read_ms: dict[str, float] = field(default_factory=dict)
    # the workers' CPU during the latency phase, in cores (0.25 = a quarter of one core): what
    # the offered rate costs them, fetching and waiting included
    latency_worker_cpu: float = 0.0
    latency_sink_cpu: float = 0.0  # the sink's CPU in cores over the same phase
    # CPU per event, a steadier measure than the rates on a shared machine: the relay
    # thread's own CPU from its first batch to its last, and the workers' processes from the
    # settled group to the drained backlog; 0 where it could not be read (no /proc)
    baseline_cpu_us: float = 0.0
    pipeline_cpu_us: float = 0.0
    cpu_ratio: float = 0.0
    # the same relay over the same events again, once the workers and the sink have stopped:
    # a shared machine's speed drifts within minutes (here the relay ran at 14,000 events/s
    # in one run and 40,000 in the next), and two readings show how far the baseline moved
    # during the run; ``ratio`` stays the pipeline against the first
    baseline_after_eps: float = 0.0
    baseline_after_cpu_us: float = 0.0
    ratio_after: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux's ``/proc``), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cores(cpu0: float | None, cpu1: float | None, seconds: float) -> float:
    """CPU seconds between two readings over ``seconds`` of wall time, in cores (0.25 = a
    quarter of one core); 0 when either reading failed."""
    if cpu0 is None or cpu1 is None:
        return 0.0
    return round((cpu1 - cpu0) / seconds, 3)


def per_event_us(cpu: list[float], events: int) -> float:
    """The first CPU reading of ``cpu`` (seconds) per event, in µs to a tenth; 0 when there
    is none (no /proc)."""
    return round(1e6 * cpu[0] / events, 1) if cpu else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of ``values``, to a tenth."""
    return {f"p{q}": round(percentile(values, q / 100), 1) for q in (50, 95, 99)}


def make_events(n: int, run: str, seed: int = 7) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) for n valid intake events with unique ids, event time ≈ now."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(seconds=5)
    out = []
    for i in range(n):
        kind, ev = random_event(rng, i, when=now, run=run)
        parsed = validate(ev, kind)
        topic = INTAKE_KINDS[kind_for_type(parsed.type)][1]
        out.append((topic, intake_key(parsed).encode(), json.dumps(ev).encode()))
    return out


def _producer(s: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=s.resolved_bootstrap().split(","),
        **s.kafka_client_config(),
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
    )


def _preload(
    s: Settings, events: list[tuple[str, bytes, bytes]], topic_of: Callable[[str], str]
) -> None:
    prod = _producer(s)
    for topic, key, value in events:
        prod.send(topic_of(topic), key=key, value=value)
    prod.flush()
    prod.close()


def _count_until(
    s: Settings, topic: str, n: int, timeout_s: float, poll_s: float = 0.05
) -> tuple[int, float, float, float]:
    """Watch ``topic`` (a fresh one) fill up to n messages by its end offsets, without
    reading it: a reading client on the same small machine would take CPU from what is
    measured.

    Returns (count, first_ts, last_ts, rate): ``first_ts`` is when messages were first seen,
    ``last_ts`` when the n-th was, and the rate counts what arrived after the first look (or,
    when a small run arrived all between two looks, all of it since the last empty look)."""
    consumer = KafkaConsumer(
        bootstrap_servers=s.resolved_bootstrap().split(","),
        enable_auto_commit=False,
        group_id=None,
        **s.kafka_client_config(),
    )
    count, first, last, first_count = 0, 0.0, 0.0, 0
    empty = time.monotonic()  # the last look that found nothing
    deadline = empty + timeout_s
    try:
        partitions = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        while count < n and time.monotonic() < deadline:
            try:
                seen = sum(consumer.end_offsets(tps).values())
            except KafkaError:  # a leader moving or not elected yet: look again
                time.sleep(poll_s)
                continue
            now = time.monotonic()
            if not seen:
                empty = now
            elif not count:
                first, first_count = now, seen
            if seen != count:
                last, count = now, seen
            if count < n:
                time.sleep(poll_s)
    finally:
        consumer.close()
    if count > first_count:
        rate = (count - first_count) / max(last - first, 1e-3)
    else:  # everything arrived between two looks
        rate = count / max(last - empty, 1e-3)
    return count, first, last, rate


# --- baseline ---------------------------------------------------------------------------------


async def _relay(
    s: Settings,
    src: str,
    dst: str,
    n: int,
    group: str,
    stop: threading.Event,
    cpu: list[float] | None = None,
) -> None:
    """Relay ``n`` events (or until ``stop``); appends the thread's CPU seconds from the first
    batch to the last delivery to ``cpu``."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    servers = s.resolved_bootstrap()
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_poll_records=1000,
        **_aio_config(s),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        **_aio_config(s),
    )
    await consumer.start()
    await producer.start()
    try:
        done = 0
        started: float | None = None
        while done < n and not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            if started is None and batches:
                started = time.thread_time()
            futs = []
            for msgs in batches.values():
                for m in msgs:
                    obj = json.loads(m.value)
                    obj["relayed_at"] = time.time()
                    futs.append(await producer.send(dst, key=m.key, value=json.dumps(obj).encode()))
                    done += 1
            if futs:
                await asyncio.gather(*futs)
        if cpu is not None and started is not None:
            cpu.append(time.thread_time() - started)
    finally:
        await producer.stop()
        await consumer.stop()


def _wait_for_leaders(admin: KafkaAdminClient, topics: list[str], timeout_s: float = 30.0) -> None:
    """Until every partition of the just-created ``topics`` has a leader: a client that
    asks earlier logs "not found in cluster metadata" errors while it waits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = admin.describe_topics(topics)
        if len(described) == len(topics) and all(
            t.get("error_code") == 0
            and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        time.sleep(0.1)


def run_baseline(
    s: Settings,
    events: list[tuple[str, bytes, bytes]],
    partitions: int,
    progress: Progress,
    cpu: list[float] | None = None,
    label: str = "baseline",
) -> float:
    run = uuid.uuid4().hex[:8]
    src, dst = f"{s.topic_prefix}relay-in-{run}", f"{s.topic_prefix}relay-out-{run}"
    admin = admin_client(s)
    admin.create_topics([NewTopic(t, partitions, s.topic_replication) for t in (src, dst)])
    _wait_for_leaders(admin, [src, dst])
    admin.close()
    progress(f"{label}: pre-loading {len(events)} events")
    _preload(s, events, lambda _t: src)
    progress(f"{label}: relaying")
    # told to stop when the count ends early (a timeout, an error): a relay still polling its
    # topics would make the broker create them again after the bench deleted them
    stop = threading.Event()
    t = threading.Thread(
        target=lambda: asyncio.run(
            _relay(s, src, dst, len(events), f"{s.app_id}-relay", stop, cpu)
        ),
        daemon=True,
    )
    t.start()
    try:
        count, _first, _last, rate = _count_until(s, dst, len(events), timeout_s=600)
    finally:
        stop.set()
        t.join(timeout=30)
    if count < len(events):
        raise RuntimeError(f"{label}: relayed only {count} of {len(events)} events")
    return rate


# --- pipeline ---------------------------------------------------------------------------------


class Workers:
    def __init__(self, s: Settings, k: int, log_dir: Path) -> None:
        self.s, self.k, self.log_dir = s, k, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    def start(self) -> None:
        from fengqiao.localkafka import free_port

        self.log_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.k):
            port = free_port()
            self.ports.append(port)
            env = dict(os.environ)
            env.update(
                KAFKA_BOOTSTRAP_SERVERS=self.s.resolved_bootstrap(),
                FENGQIAO_TOPIC_PREFIX=self.s.topic_prefix,
                FENGQIAO_APP_ID=self.s.app_id,
                FENGQIAO_HOME=str(self.s.home),
                FENGQIAO_WORKER_WEB_PORT=str(port),
                FENGQIAO_WORKER_DATA_DIR=str(self.s.home / f"worker-{i}"),
                FENGQIAO_TOPIC_PARTITIONS=str(self.s.topic_partitions),
            )
            log = (self.log_dir / f"bench-worker-{i}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fengqiao", "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_settled(self, timeout_s: float = 120.0, steady_s: float = 3.0) -> None:
        """Wait until every worker is ready (``/readyz``), holds partitions, and the group's
        assignment has not changed for ``steady_s``: workers started together join one by
        one, and each join is a rebalance that would otherwise be timed as throughput."""
        import json as _json
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout_s
        last: list[int] | None = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            for i, p in enumerate(self.procs):
                if p.poll() is not None:
                    raise RuntimeError(f"bench worker {i} exited; see {self.log_dir}")
            assigned: list[int] = []
            for port in self.ports:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                        body = _json.loads(r.read())
                    assigned.append(int(body["assigned"]) if body.get("ready") else 0)
                except (urllib.error.URLError, OSError, ValueError, KeyError):
                    assigned.append(0)
            if assigned != last:
                last, since = assigned, time.monotonic()
            elif all(assigned) and time.monotonic() - since >= steady_s:
                return
            time.sleep(0.25)
        raise RuntimeError(f"the bench's workers did not settle within {timeout_s:.0f} s")

    def cpu_s(self) -> float | None:
        """The workers' user + system CPU seconds so far; ``None`` when unreadable."""
        each = [process_cpu_s(p.pid) for p in self.procs]
        return None if any(c is None for c in each) else sum(c or 0.0 for c in each)

    def stop(self) -> None:
        import signal

        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def store_path(s: Settings) -> Path:
    """The bench's own case store: a fresh SQLite file per run."""
    return s.home / f"{s.app_id}.db"


def store_url(s: Settings) -> str:
    return f"sqlite:///{store_path(s)}"


def remove_store(s: Settings, run: str, progress: Progress) -> None:
    """Remove the run's case store and SQLite's files beside it (write-ahead log, shared
    memory): 400 MB for a run of 30,000 events, which would fill the disk run by run.
    Reported, never raised: it runs in a ``finally``, like ``delete_run``."""
    path = store_path(s)
    freed = 0
    for f in (path, *(path.with_name(path.name + x) for x in ("-wal", "-shm", "-journal"))):
        try:
            size = f.stat().st_size
            f.unlink()
            freed += size
        except FileNotFoundError:
            continue
        except OSError as err:
            progress(f"bench: could not remove {f} of run {run}: {err}")
    if freed:
        progress(f"bench: removed the case store of run {run} ({freed / 1e6:,.0f} MB)")


class SinkProcess:
    """One ``fengqiao sink`` writing the bench's topics into the bench's case store."""

    def __init__(self, s: Settings, log_dir: Path) -> None:
        self.s, self.log_dir = s, log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def group(self) -> str:
        return f"{self.s.app_id}-sink"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.s.resolved_bootstrap(),
            FENGQIAO_TOPIC_PREFIX=self.s.topic_prefix,
            FENGQIAO_APP_ID=self.s.app_id,
            FENGQIAO_HOME=str(self.s.home),
            FENGQIAO_DATABASE_URL=store_url(self.s),
            FENGQIAO_SINK_GROUP_ID=self.group,
        )
        env.pop("FENGQIAO_SINK_METRICS_PORT", None)  # not served: the bench reads the store
        log = (self.log_dir / "bench-sink.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fengqiao", "sink"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cpu_s(self) -> float | None:
        """The sink's user + system CPU seconds so far; ``None`` when unreadable."""
        return None if self.proc is None else process_cpu_s(self.proc.pid)

    def check(self) -> None:
        """Raise if the sink has exited (a bad setting, a store it cannot open)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the bench's sink exited; see {self.log_dir / 'bench-sink.log'}")

    def stop(self) -> None:
        import signal

        p = self.proc
        if p is None or p.poll() is not None:
            return
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_drained(
    s: Settings,
    timeout_s: float,
    poll_s: float = 0.25,
    group: str | None = None,
    alive: Callable[[], None] = lambda: None,
) -> float:
    """Wait until the workers' consumer group (or ``group``) has committed every message of
    every topic it reads (intake and the internal topics of incidents, risk and SLA); returns
    when, on the ``time.monotonic`` clock. Commits trail processing by at most
    ``broker_commit_interval``. ``alive`` raises when what is waited for has died."""
    from consumers.metrics.lag import LagProbe
    from fengqiao.metrics_wiring import kafka_access

    probe = LagProbe(kafka_access(s), group or s.app_id)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                lag = probe.measure()
            except (KafkaError, KeyError):
                # a topic the workers just created may not have its metadata everywhere yet
                lag = {}
            if lag and not any(lag.values()):
                return time.monotonic()
            alive()
            time.sleep(poll_s)
    finally:
        probe.close()
    who = "the sink" if group else "the workers"
    raise RuntimeError(f"{who} did not finish the backlog within {timeout_s:.0f} s")


def run_pipeline(
    s: Settings,
    events: list[tuple[str, bytes, bytes]],
    workers: Workers,
    progress: Progress,
    cpu: list[float] | None = None,
) -> tuple[float, float]:
    """(events/s through the whole pipeline, events/s to ``cases.routed``) on a backlog;
    appends the workers' CPU seconds from the settled group to the drained backlog to ``cpu``
    (idle polling before the backlog arrives and until the last commit included).

    The whole pipeline is timed from the first routed case until the workers have also
    committed the incident, risk and SLA work those events caused. The workers are started
    and their group settled first, then the backlog is loaded: the joins' rebalances are not
    timed, and the preloader (faster than the pipeline) runs beside the workers at the start."""
    progress(f"pipeline: starting {workers.k} worker(s) and waiting for their group to settle")
    workers.start()
    workers.wait_settled()
    cpu0 = workers.cpu_s()
    progress(f"pipeline: loading {len(events)} events into the intake topics")
    _preload(s, events, s.topic)
    count, first, last, routed_eps = _count_until(
        s, s.topic("cases.routed"), len(events), timeout_s=900
    )
    if count < len(events):
        raise RuntimeError(
            f"the pipeline routed only {count} of {len(events)} events; see {workers.log_dir}"
        )
    progress(f"pipeline: {routed_eps:,.0f} events/s routed; waiting for the downstream work")
    drained = wait_drained(s, timeout_s=900)
    cpu1 = workers.cpu_s()
    if cpu is not None and cpu0 is not None and cpu1 is not None:
        cpu.append(cpu1 - cpu0)
    # the same rule as the routed rate, with the end moved to when the last work was committed
    return routed_eps * (last - first) / max(max(last, drained) - first, 1e-3), routed_eps


@dataclass
class LatencySample:
    """What the latency phase measured, ms per event."""

    routed: list[float] = field(default_factory=list)  # publish → routed case read
    stored: list[float] = field(default_factory=list)  # publish → case in the store
    to_output: list[float] = field(default_factory=list)  # publish → the worker produced it
    output_to_read: list[float] = field(default_factory=list)  # produced → read


def run_latency(
    s: Settings, rate: float, seconds: float, run: str, progress: Progress
) -> LatencySample:
    """Publish at ``rate``/s for ``seconds`` to warm workers; ms from send to routed consumed,
    and ms from send to the case being readable in the bench's case store (polled every
    50 ms with one query for every case not yet seen there, so ±25 ms on average).

    The load generator and the reader are aiokafka clients on one event loop: on a small
    machine they share the cores with the workers and the broker, and a heavier client would
    measure itself.
    """
    n = max(int(rate * seconds), 1)
    events = make_events(n, f"{run}-lat", seed=11)
    progress(f"latency: publishing {n} events at {rate:.0f}/s")
    return asyncio.run(_latency(s, events, rate))


def _aio_config(s: Settings) -> dict[str, Any]:
    """The Kafka security settings for aiokafka clients (which want an SSL context)."""
    return dict(s.aiokafka_client_config())


class StoreReader:
    """Which of some case ids the case store holds: what a mediator's inbox could show."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        from consumers.tables import cases

        self.engine = create_engine(url)
        self.cases = cases

    def present(self, case_ids: list[str]) -> set[str]:
        from sqlalchemy import select
        from sqlalchemy.exc import OperationalError

        found: set[str] = set()
        try:
            with self.engine.connect() as conn:
                for i in range(0, len(case_ids), 500):
                    chunk = case_ids[i : i + 500]
                    rows = conn.execute(
                        select(self.cases.c.case_id).where(self.cases.c.case_id.in_(chunk))
                    )
                    found.update(r[0] for r in rows)
        except OperationalError:
            pass  # the sink holds the file's write lock (or has not made the table yet)
        return found

    def close(self) -> None:
        self.engine.dispose()


async def _latency(
    s: Settings, events: list[tuple[str, bytes, bytes]], rate: float
) -> LatencySample:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    servers = s.resolved_bootstrap()
    sent: dict[str, float] = {}
    sent_wall: dict[str, float] = {}  # the same send, on the clock record timestamps use
    sample = LatencySample()
    latencies, stored = sample.routed, sample.stored
    store = StoreReader(store_url(s))
    routed = s.topic("cases.routed")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, enable_auto_commit=False, fetch_max_wait_ms=20, **_aio_config(s)
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", **_aio_config(s))
    await consumer.start()
    await producer.start()
    try:
        # the reader is positioned at the end before anything is published
        partitions = await producer.partitions_for(routed)  # waits for the metadata
        tps = [TopicPartition(routed, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)

        async def read() -> None:
            while len(latencies) < len(events):
                for msgs in (await consumer.getmany(timeout_ms=100)).values():
                    now, wall = time.monotonic(), time.time()
                    for m in msgs:
                        case_id = json.loads(m.value)["data"]["case_id"]
                        t0 = sent.get(case_id)
                        if t0 is not None:
                            latencies.append((now - t0) * 1000)
                            produced = m.timestamp / 1000
                            sample.to_output.append((produced - sent_wall[case_id]) * 1000)
                            sample.output_to_read.append((wall - produced) * 1000)

        async def poll_store() -> None:
            waiting: dict[str, float] = {}
            taken = 0
            while len(stored) < len(events):
                for k in order[taken:]:
                    waiting[k] = sent[k]
                taken = len(order)
                if waiting:
                    found = await asyncio.to_thread(store.present, list(waiting))
                    now = time.monotonic()
                    for k in found:
                        stored.append((now - waiting.pop(k)) * 1000)
                await asyncio.sleep(0.05)

        order: list[str] = []  # the ids in the order sent
        reader = asyncio.ensure_future(read())
        poller = asyncio.ensure_future(poll_store())
        start = time.monotonic()
        for i, (topic, key, value) in enumerate(events):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event_id = json.loads(value)["id"]
            sent[event_id], sent_wall[event_id] = time.monotonic(), time.time()
            order.append(event_id)
            await producer.send(s.topic(topic), value, key=key)
        await producer.flush()
        with contextlib.suppress(TimeoutError):  # the caller reports how many came back
            await asyncio.wait_for(reader, timeout=60)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poller, timeout=60)
    finally:
        await producer.stop()
        await consumer.stop()
        store.close()
    return sample


def run_bench(
    base: Settings,
    *,
    events: int,
    rate: float,
    workers: int,
    latency_seconds: float = 20.0,
    progress: Progress = print,
    warm_up: bool = False,
) -> BenchResult:
    """One bench run. ``warm_up`` when the broker was started in the last minutes: a fresh
    broker runs slowly for its first minute or two of traffic (its JVM is still compiling;
    measured here: latency p99 1.9 s on the first run against 0.4 s on the next), which would
    be counted against the pipeline. A shorter pass of the whole bench runs first and is not
    counted."""
    if warm_up:
        progress(
            "warm-up: the broker was started less than 3 minutes ago; a shorter pass first, "
            "not counted"
        )
        _bench_pass(
            base,
            events=min(events, 5000),
            rate=rate,
            workers=workers,
            latency_seconds=min(latency_seconds, 10.0),
            progress=lambda m: progress(f"  warm-up {m}"),
        )
        progress("warm-up done; measuring")
    return _bench_pass(
        base,
        events=events,
        rate=rate,
        workers=workers,
        latency_seconds=latency_seconds,
        progress=progress,
    )


# a bench run's names: its topics under "<prefix>bench-<run>.", its app id "fengqiao-bench-<run>"
RUN_TOPIC_PREFIX = "bench-"
RUN_APP_ID = "fengqiao-bench-"


def run_settings(base: Settings, run: str, workers: int = 1) -> Settings:
    """The settings of bench run ``run``: its own topic prefix and app id (so its own consumer
    groups and changelogs), and enough partitions for its workers."""
    return base.model_copy(
        update={
            "topic_prefix": f"{base.topic_prefix}{RUN_TOPIC_PREFIX}{run}.",
            "app_id": f"{RUN_APP_ID}{run}",
            "topic_partitions": max(base.topic_partitions, 2 * workers),
        }
    )


def _bench_pass(
    base: Settings,
    *,
    events: int,
    rate: float,
    workers: int,
    latency_seconds: float,
    progress: Progress,
) -> BenchResult:
    run = uuid.uuid4().hex[:8]
    s = run_settings(base, run, workers)
    try:
        return _measure(
            s,
            run,
            events=events,
            rate=rate,
            workers=workers,
            latency_seconds=latency_seconds,
            progress=progress,
        )
    finally:
        # every topic (intake, outputs, internal, changelogs, relay) and consumer group of the
        # run, once nothing that uses them runs any more; reported, never raised (see
        # ``delete_run``)
        delete_run(s, who="bench", run=run, progress=progress)
        remove_store(s, run, progress)


def _measure(
    s: Settings,
    run: str,
    *,
    events: int,
    rate: float,
    workers: int,
    latency_seconds: float,
    progress: Progress,
) -> BenchResult:
    """The pass itself, on the run's own topics (``s``)."""
    create_topics(s)
    notes: list[str] = []
    evs = make_events(events, run)
    relay_cpu: list[float] = []
    baseline = run_baseline(s, evs, s.topic_partitions, progress, relay_cpu)
    progress(f"baseline: {baseline:,.0f} events/s")
    pool = Workers(s, workers, s.home / "logs")
    sink = SinkProcess(s, s.home / "logs")
    try:
        worker_cpu: list[float] = []
        pipeline, routed = run_pipeline(s, evs, pool, progress, worker_cpu)
        progress(f"pipeline: {pipeline:,.0f} events/s with the downstream work done")
        # the sink starts after the throughput phase, so it takes no CPU from it, and
        # catches up on that backlog before the latency phase
        progress("sink: writing the backlog into the bench's case store")
        sink.start()
        started = time.monotonic()
        wait_drained(s, timeout_s=900, group=sink.group, alive=sink.check)
        progress(f"sink: caught up in {time.monotonic() - started:.0f} s")
        cpu0, sink0, wall0 = pool.cpu_s(), sink.cpu_s(), time.monotonic()
        sample = run_latency(s, rate, latency_seconds, run, progress)
        cpu1, sink1, wall1 = pool.cpu_s(), sink.cpu_s(), time.monotonic()
    finally:
        sink.stop()
        pool.stop()
    after_cpu: list[float] = []
    after = run_baseline(s, evs, s.topic_partitions, progress, after_cpu, "baseline again")
    progress(f"baseline again: {after:,.0f} events/s")
    lat, stored = sample.routed, sample.stored
    if len(lat) < rate * latency_seconds:
        notes.append(f"latency: {len(lat)} of {int(rate * latency_seconds)} events came back")
    if len(stored) < rate * latency_seconds:
        notes.append(
            f"store latency: {len(stored)} of {int(rate * latency_seconds)} cases reached the store"
        )
    # the ratio of the rates as reported, so the JSON's own numbers divide to its ratio
    baseline, pipeline, after = round(baseline, 1), round(pipeline, 1), round(after, 1)
    relay_us, after_us, worker_us = (
        per_event_us(cpu, events) for cpu in (relay_cpu, after_cpu, worker_cpu)
    )
    return BenchResult(
        events=events,
        offered_rate=rate,
        workers=workers,
        cores=os.cpu_count() or 0,
        partitions=s.topic_partitions,
        baseline_eps=baseline,
        pipeline_eps=pipeline,
        routed_eps=round(routed, 1),
        ratio=round(pipeline / baseline, 4) if baseline else 0.0,
        latency_ms=percentiles(lat),
        latency_events=len(lat),
        store_latency_ms=percentiles(stored),
        store_latency_events=len(stored),
        to_output_ms=percentiles(sample.to_output),
        output_to_read_ms=percentiles(sample.output_to_read),
        latency_worker_cpu=cores(cpu0, cpu1, wall1 - wall0),
        latency_sink_cpu=cores(sink0, sink1, wall1 - wall0),
        kafka=s.resolved_bootstrap(),
        started_at=datetime.now(UTC).isoformat(),
        notes=notes,
        baseline_cpu_us=relay_us,
        pipeline_cpu_us=worker_us,
        cpu_ratio=round(relay_us / worker_us, 4) if relay_us and worker_us else 0.0,
        baseline_after_eps=after,
        baseline_after_cpu_us=after_us,
        ratio_after=round(pipeline / after, 4) if after else 0.0,
    )
