"""Faults on a real three-broker cluster, in the spirit of Kafka's own system tests: two real
workers and the sink writing to PostgreSQL, a steady load of seeded events with unique ids,
and one fault each: the leader of the busiest intake partition SIGKILLed, a rolling restart of
all three brokers, a worker SIGKILLed during a rebalance, PostgreSQL stopped for 30 s.

After each: the routed case ids are exactly the valid ids sent, every event the producer had
acknowledged is found downstream (routed and stored: the Jepsen "lost write"), and no case is
stored twice. Each test is bounded in events and seconds, and prints its numbers (events in,
routed, stored, longest routing gap) as one JSON line; run with ``-s`` to read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import text

from consumers.db import SqlStore
from fengqiao import localcluster, localkafka
from fengqiao.admin import create_topics
from fengqiao.bench import make_events
from fengqiao.settings import Settings
from tests.casetools import SinkProcess, sink_env, wait_until
from tests.conftest_cluster import Cluster
from tests.conftest_pg import PgServer
from tests.kafkatools import WorkerProcess, from_start

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

INTAKE = ("intake.disputes", "intake.petitions", "intake.wage-arrears")
# faust reads these itself: a SIGKILLed worker's partitions move after 10 s, not faust's 60
WORKER_ENV = {
    "BROKER_SESSION_TIMEOUT": "10",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_REBALANCE_TIMEOUT": "20",
    "FENGQIAO_TOPIC_REPLICATION": "3",
    "FENGQIAO_LOG_LIBRARIES": "1",  # aiokafka's group log: the rebalance test watches it
}
REJOIN = "(Re-)joining group"
SESSION_S = float(WORKER_ENV["BROKER_SESSION_TIMEOUT"])
REBALANCE_S = float(WORKER_ENV["BROKER_REBALANCE_TIMEOUT"])
# The worker-kill test's bound, stated as a budget per phase for a loaded 2-core CI machine:
# two workers started and the sink assigned; the load itself (4000 events at 200/s); the
# membership changes (the third worker's join, the kill, and the rebalance that waits out the
# dead member's session and at most one rebalance timeout, twice over); the routing and
# storing catching up on what piled up meanwhile; and the teardown's graceful stops.
KILL_COUNT, KILL_RATE = 4000, 200
KILL_BOUND_S = 120 + KILL_COUNT / KILL_RATE + 2 * (SESSION_S + REBALANCE_S) + 60 + 120 + 30


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    """A PostgreSQL server of this module's own: one test stops it."""
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass
class Load:
    """A steady producer of seeded events (acks=all, idempotent), with every tenth hundred an
    invalid one; records which valid ids the broker acknowledged."""

    settings: Settings
    count: int
    rate: float
    events: list[tuple[str, bytes, bytes]] = field(init=False)
    acked: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    invalid: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.events = make_events(self.count, f"fault-{uuid.uuid4().hex[:6]}")

    @property
    def ids(self) -> set[str]:
        return {json.loads(v)["id"] for _t, _k, v in self.events}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        s = self.settings
        producer = KafkaProducer(
            bootstrap_servers=s.resolved_bootstrap().split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            delivery_timeout_ms=120_000,
            **s.kafka_client_config(),
        )
        began = time.monotonic()
        for i, (topic, key, value) in enumerate(self.events):
            event_id = json.loads(value)["id"]
            fut = producer.send(s.topic(topic), key=key, value=value)
            fut.add_callback(lambda _md, e=event_id: self._ack(e))
            fut.add_errback(lambda err, e=event_id: self.failed.append(f"{e}: {err}"))
            if i % 100 == 50:  # not an event: must become a dead letter, never a case
                producer.send(s.topic("intake.disputes"), key=b"bad", value=b'{"id": "bad"')
                self.invalid += 1
            ahead = (i + 1) / self.rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
        producer.flush(timeout=150)
        producer.close()

    def _ack(self, event_id: str) -> None:
        with self._lock:
            self.acked.add(event_id)

    def sent_fraction(self) -> float:
        with self._lock:
            return len(self.acked) / self.count

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the producer did not finish"


@dataclass
class Pipeline:
    settings: Settings
    workers: list[WorkerProcess]
    sink: SinkProcess
    store: SqlStore
    tmp: Path

    def add_worker(self) -> WorkerProcess:
        i = len(self.workers)
        own = self.settings.model_copy(update={"worker_web_port": localkafka.free_port()})
        w = WorkerProcess(
            own,
            self.tmp / f"worker-{i}.log",
            extra_env=WORKER_ENV | {"FENGQIAO_WORKER_DATA_DIR": str(self.tmp / f"wd-{i}")},
        )
        self.workers.append(w)
        return w


@pytest.fixture
def pipeline(kafka_cluster: Cluster, pg: PgServer, tmp_path: Path) -> Iterator[Pipeline]:
    """Fresh topics (replication 3, min.insync.replicas 2) on the cluster, two workers ready,
    and the sink on a fresh database."""
    tag = uuid.uuid4().hex[:8]
    s = Settings(
        kafka_bootstrap_servers=kafka_cluster.bootstrap,
        topic_prefix=f"f{tag}.",
        app_id=f"fq-fault-{tag}",
        home=tmp_path / "home",
        topic_partitions=4,
        topic_replication=3,
        database_url=pg.create_database(f"f{tag}"),
    )
    create_topics(s)
    assert s.database_url is not None
    store = SqlStore.open(s.database_url)
    # static membership, as the manifests deploy the sink
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(batch=200))
    p = Pipeline(s, [], sink, store, tmp_path)
    a, b = p.add_worker(), p.add_worker()
    try:
        starters = [threading.Thread(target=w.start, kwargs={"timeout_s": 90}) for w in (a, b)]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for w in (a, b):
            assert w.proc is not None and w.proc.poll() is None, w.log_tail()
        sink.start()
        _wait_assigned(s, f"{s.app_id}-sink", "cases.routed")
        yield p
    finally:
        # stopped together: one after another, three workers' graceful shutdowns on a loaded
        # machine took a good part of the test's time bound
        stoppers = [threading.Thread(target=x.stop) for x in [*p.workers, sink]]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        store.close()
        # a test that failed half-way must not leave the next one a broken cluster
        localcluster.start(
            data_dir=kafka_cluster.data_dir,
            cache_dir=s.cache_dir,
            version=s.kafka_version,
        )


def _wait_assigned(s: Settings, group: str, topic: str, timeout_s: float = 60) -> None:
    """Until every partition of ``topic`` is assigned to a member of ``group``."""
    admin = _admin(s)
    want = s.topic(topic)
    try:

        def assigned() -> bool:
            desc = admin.describe_groups([group]).get(group) or {}
            assignments = [m.get("member_assignment") for m in desc.get("members") or []]
            parts = {
                p
                for ma in assignments
                if isinstance(ma, dict)  # empty while the group rebalances
                for a in ma["assigned_partitions"]
                if a["topic"] == want
                for p in a["partitions"]
            }
            return parts == set(range(s.topic_partitions))

        wait_until(assigned, timeout_s, f"{group} assigned all of {want}", poll_s=0.5)
    finally:
        admin.close()


def _admin(s: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=s.resolved_bootstrap().split(","))


def _ends(
    s: Settings, consumer: KafkaConsumer, topics: tuple[str, ...]
) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    """Every partition of ``topics`` and its log end."""
    tps = [
        TopicPartition(s.topic(t), p)
        for t in topics
        for p in consumer.partitions_for_topic(s.topic(t)) or ()
    ]
    return tps, consumer.end_offsets(tps)


def _busiest_intake_leader(s: Settings) -> tuple[str, int, int]:
    """(topic, partition, leader node) of the intake partition with the most messages."""
    consumer = KafkaConsumer(bootstrap_servers=s.resolved_bootstrap().split(","))
    admin = _admin(s)
    try:
        tps, ends = _ends(s, consumer, INTAKE)
        busiest = max(tps, key=lambda tp: ends[tp])
        (meta,) = admin.describe_topics([busiest.topic])
        leader = next(
            p["leader_id"] for p in meta["partitions"] if p["partition_index"] == busiest.partition
        )
        return busiest.topic, busiest.partition, int(leader)
    finally:
        consumer.close()
        admin.close()


def _wait_in_sync(s: Settings, timeout_s: float = 90) -> None:
    """Until every partition of the test's topics has all three replicas in sync."""
    admin = _admin(s)
    try:

        def in_sync() -> bool:
            names = [n for n in admin.list_topics() if n.startswith(s.topic_prefix)]
            return all(
                len(p["isr_nodes"]) == 3 and p["leader_id"] >= 0
                for t in admin.describe_topics(names)
                for p in t["partitions"]
            )

        wait_until(in_sync, timeout_s, "all replicas back in sync", poll_s=1.0)
    finally:
        admin.close()


STUCK_READER_S = 20.0


def _routed(s: Settings, want: set[str], timeout_s: float) -> list[tuple[str, int]]:
    """(case id, broker timestamp ms) of every routed message, read until every wanted id
    has come and then 3 s of quiet (late duplicates would show).

    A reader that gets nothing for 20 s while ids are missing starts over with a new
    consumer from the beginning: kafka-python's consumer, started while a SIGKILLed broker
    came back, once read nothing more for two minutes while the sink had stored every case."""
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        consumer = from_start(s, "cases.routed")
        out, seen = [], set()
        quiet_since: float | None = None
        progress = time.monotonic()
        try:
            while time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=500)
                for msgs in batch.values():
                    for m in msgs:
                        case_id = json.loads(m.value)["data"]["case_id"]
                        out.append((case_id, m.timestamp))
                        seen.add(case_id)
                if batch:
                    progress = time.monotonic()
                if seen >= want:
                    quiet_since = quiet_since or time.monotonic()
                    if batch:
                        quiet_since = time.monotonic()
                    if time.monotonic() - quiet_since > 3:
                        return out
                elif time.monotonic() - progress > STUCK_READER_S:
                    print(f"cases.routed reader stuck at {len(seen)} of {len(want)}: starting over")
                    break
            else:
                return out
        finally:
            consumer.close()


def _stored(store: SqlStore) -> tuple[set[str], int, int]:
    """(case ids stored, cases with more than one routed history entry, dead letters)."""
    with store.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT case_id FROM cases"))}
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT case_id FROM case_history "
                "WHERE type = 'case.routed.v1' GROUP BY case_id HAVING count(*) > 1) d"
            )
        ).scalar_one()
        dead = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
    return ids, int(twice), int(dead)


def _lagging(s: Settings, group: str, topics: tuple[str, ...]) -> list[str]:
    """``topic[partition] committed/end owner`` for every partition of ``topics`` that
    ``group`` has not committed to its end, with the member that owns it now."""
    admin = _admin(s)
    consumer = KafkaConsumer(bootstrap_servers=s.resolved_bootstrap().split(","))
    try:
        tps, ends = _ends(s, consumer, topics)
        committed = admin.list_group_offsets({group: None}).get(group, {})
        owners: dict[tuple[str, int], str] = {}
        desc = admin.describe_groups([group]).get(group) or {}
        for m in desc.get("members") or []:
            ma = m.get("member_assignment")
            for a in ma["assigned_partitions"] if isinstance(ma, dict) else ():
                for part in a["partitions"]:
                    owners[(a["topic"], part)] = str(
                        m.get("group_instance_id") or m.get("member_id")
                    )
        out = []
        for tp in sorted(tps):
            done = committed.get(tp)
            at = done.offset if done is not None else None
            if at != ends[tp]:
                owner = owners.get((tp.topic, tp.partition), "nobody")
                out.append(f"{tp.topic}[{tp.partition}] {at}/{ends[tp]} {owner}")
        return out
    finally:
        consumer.close()
        admin.close()


def _diagnosis(p: Pipeline) -> str:
    """Where a stalled run stopped, for the failure message: the partitions each group has
    not committed to their end (and who owns them), and the workers' warnings. Test ids and
    offsets only: the load carries no personal data."""
    lines = []
    try:
        for group, topics in (
            (p.settings.app_id, INTAKE),
            (f"{p.settings.app_id}-sink", ("cases.routed",)),
        ):
            lines.append(f"{group} behind on: {_lagging(p.settings, group, topics) or 'nothing'}")
    except Exception as err:  # the cluster may be what failed
        lines.append(f"the group offsets could not be read: {err!r}")
    for i, w in enumerate(p.workers):
        alive = w.proc is not None and w.proc.poll() is None
        dumped = LogWatch(w.log_path, "SIGUSR1: ")
        if alive and w.proc is not None:
            # the worker logs its consumer's partitions, Admission's offsets and its stacks
            os.kill(w.proc.pid, signal.SIGUSR1)
            with contextlib.suppress(TimeoutError):
                wait_until(dumped.seen, 10, "the worker's SIGUSR1 dump", poll_s=0.2)
        text = w.log_tail(400_000).splitlines()
        warned = [line for line in text if "WARNING" in line or "ERROR" in line]
        lines.append(f"worker {i} (exit {w.proc and w.proc.poll()}), last warnings:")
        lines.extend(line[:300] for line in warned[-15:] if "SIGUSR1" not in line)
        lines.extend(
            line[:3000]
            for line in text
            if line.startswith(("consumer: ", "fetch: ", "recovery: ", "producer: "))
        )
    return "\n".join(lines)


def _run_fault(
    p: Pipeline,
    record: Callable[[str, object], None],
    name: str,
    count: int,
    rate: float,
    fault: Callable[[Load], None],
    settle_s: float = 180,
) -> dict[str, Any]:
    load = Load(p.settings, count, rate)
    started = time.monotonic()
    load.start()
    wait_until(lambda: load.sent_fraction() > 0.2, 60, "a fifth of the load acknowledged")
    fault(load)
    load.join(timeout_s=180)
    assert load.failed == [], load.failed[:5]
    valid = load.ids
    assert load.acked == valid  # nothing refused: replication 3 kept intake open

    routed = _routed(p.settings, valid, timeout_s=settle_s)
    routed_ids = {c for c, _ts in routed}
    stamps = sorted(ts for _c, ts in routed)
    gap_s = max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0) / 1000

    def all_stored() -> bool:
        return _stored(p.store)[0] >= valid

    try:
        wait_until(all_stored, settle_s, "every acknowledged case stored", poll_s=1.0)
    except TimeoutError:
        # say where the missing cases stopped: never routed (the workers) or routed and not
        # stored (the sink); the ids are the load's own, no personal data
        missing = valid - _stored(p.store)[0]
        unrouted = missing - routed_ids
        raise AssertionError(
            f"{len(missing)} of {len(valid)} acknowledged cases not stored after {settle_s} s: "
            f"{len(unrouted)} never reached cases.routed, {len(missing - unrouted)} did; "
            f"e.g. {sorted(missing)[:5]}\n{_diagnosis(p)}"
        ) from None
    stored, twice, dead = _stored(p.store)
    result = {
        "fault": name,
        "events_in": len(valid),
        "invalid_in": load.invalid,
        "acknowledged": len(load.acked),
        "routed": len(routed_ids),
        "routed_messages": len(routed),
        "stored": len(stored),
        "stored_twice": twice,
        "dead_letters_stored": dead,
        "longest_routing_gap_s": round(gap_s, 2),
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    for k, v in result.items():
        record(k, v)
    assert routed_ids == valid, (
        f"missing {len(valid - routed_ids)}, extra {len(routed_ids - valid)}"
    )
    assert load.acked <= routed_ids and load.acked <= stored  # no acknowledged write lost
    assert stored == valid and twice == 0
    assert dead >= load.invalid  # the invalid ones became dead letters, not cases
    for w in p.workers:
        if w.proc is not None and w.proc.returncode is None:
            assert w.proc.poll() is None, f"a worker died:\n{w.log_tail()}"
    return result


def test_leader_of_the_busiest_intake_partition_sigkilled(
    pipeline: Pipeline, kafka_cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    killed: list[int] = []

    def kill_leader(_load: Load) -> None:
        topic, part, leader = _busiest_intake_leader(pipeline.settings)
        pid = kafka_cluster.leader_pid(leader)
        assert pid is not None
        localcluster.stop(kafka_cluster.data_dir, only=leader, sig=signal.SIGKILL)
        assert kafka_cluster.leader_pid(leader) is None
        killed.append(leader)
        time.sleep(8)  # the load goes on against two brokers, min.insync.replicas 2
        s = pipeline.settings
        localcluster.start(
            data_dir=kafka_cluster.data_dir, cache_dir=s.cache_dir, version=s.kafka_version
        )

    _run_fault(pipeline, record_property, "leader SIGKILL", 4000, 250, kill_leader)
    assert killed
    _wait_in_sync(pipeline.settings)


def test_rolling_restart_of_all_three_brokers(
    pipeline: Pipeline, kafka_cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    restarted: list[int] = []

    def roll(_load: Load) -> None:
        s = pipeline.settings
        for node in (1, 2, 3):
            assert localcluster.stop(kafka_cluster.data_dir, only=node) == [node]
            localcluster.start(
                data_dir=kafka_cluster.data_dir,
                cache_dir=s.cache_dir,
                version=s.kafka_version,
                only=node,
            )
            _wait_in_sync(s)  # as an operator would: the next only once replicas caught up
            restarted.append(node)

    _run_fault(pipeline, record_property, "rolling restart", 6000, 200, roll)
    assert restarted == [1, 2, 3]


class LogWatch:
    """Whether a line has appeared in a growing log since the watch began, reading only the
    new bytes (a busy poll re-reading the whole log competes with the workers for the CPU)."""

    def __init__(self, path: Path, needle: str) -> None:
        self.path, self.needle = path, needle.encode()
        self.offset = path.stat().st_size if path.exists() else 0
        self.carry = b""

    def seen(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            new = f.read()
        self.offset += len(new)
        text, self.carry = self.carry + new, new[-len(self.needle) :]
        return self.needle in text


@pytest.mark.timeout(KILL_BOUND_S)
def test_worker_sigkilled_during_a_rebalance(
    pipeline: Pipeline, record_property: Callable[[str, object], None]
) -> None:
    def kill_in_rebalance(_load: Load) -> None:
        victim = pipeline.workers[0]
        rejoined = LogWatch(victim.log_path, REJOIN)
        third = pipeline.add_worker()
        # a third member joining starts a rebalance: kill one of the two once it rejoins
        starter = threading.Thread(target=third.start, kwargs={"timeout_s": 120})
        starter.start()
        wait_until(rejoined.seen, 90, "the rebalance started", poll_s=0.02)
        victim.kill()
        starter.join(timeout=150)
        assert third.proc is not None and third.proc.poll() is None, third.log_tail()

    _run_fault(
        pipeline,
        record_property,
        "worker SIGKILL in rebalance",
        KILL_COUNT,
        KILL_RATE,
        kill_in_rebalance,
    )
    assert pipeline.workers[0].proc is not None and pipeline.workers[0].proc.returncode == -9


def test_postgres_stopped_for_30_seconds(
    pipeline: Pipeline, pg: PgServer, record_property: Callable[[str, object], None]
) -> None:
    def stop_db(_load: Load) -> None:
        pg.stop()
        try:
            time.sleep(30)
            assert pipeline.sink.alive(), "the sink must wait for the database, not die"
        finally:
            pg.start()

    _run_fault(pipeline, record_property, "PostgreSQL down 30 s", 5000, 125, stop_db)
