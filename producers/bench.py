"""Measure how fast events can be published: the SDK directly, and through the HTTP gateway.

Every event is validated and acknowledged by Kafka (acks=all); the numbers are events per
second end to end on the machine it runs on, and the latency of each request (p50/p95/p99).
``fengqiao bench-publish`` starts what is measured and prints the numbers.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from producers.sample import dispute
from producers.sdk import Publisher, PublisherConfig

SOURCE = "bench/publish"


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    # Seconds per request (or per event for the SDK's one-at-a-time publish).
    latencies: list[float] = field(default_factory=list)
    # CPU seconds the gateway process spent on the run: on a shared machine the rate depends
    # on what else runs, the CPU per event much less.
    server_cpu_s: float | None = None

    @property
    def server_cpu_ms_per_event(self) -> float | None:
        if self.server_cpu_s is None or not self.events:
            return None
        return self.server_cpu_s * 1000 / self.events

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        """The q-th percentile latency in seconds (nearest rank), None when not measured."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _events(n: int, run: str) -> list[dict[str, Any]]:
    rng = random.Random(1)
    when = datetime.now(UTC) - timedelta(minutes=1)
    out = []
    for i in range(n):
        ev = dispute(rng, f"bench-{run}-{i:07d}", when)
        ev["source"] = SOURCE
        out.append(ev)
    return out


def bench_sdk(config: PublisherConfig, count: int) -> list[Result]:
    """Pipelined sends (validate + send, one flush) and one-at-a-time ``publish`` (wait per ack)."""
    run = uuid.uuid4().hex[:8]
    events = _events(count, run)
    results = []
    with Publisher(config, client_id="fengqiao-bench") as pub:
        pub.publish("dispute", _events(1, run + "w")[0])  # warm up: metadata, connection
        start = time.perf_counter()
        futs = [pub.send(ev, "dispute")[1] for ev in events]
        pub.flush()
        for f in futs:
            f.get(timeout=30)
        results.append(Result("sdk send (pipelined, acks=all)", count, time.perf_counter() - start))
        sync = _events(max(count // 10, 1), run + "s")
        lat = []
        start = time.perf_counter()
        for ev in sync:
            t0 = time.perf_counter()
            pub.publish("dispute", ev)
            lat.append(time.perf_counter() - t0)
        results.append(
            Result("sdk publish (wait for each ack)", len(sync), time.perf_counter() - start, lat)
        )
    return results


class _Client:
    """One keep-alive HTTP/1.1 connection: the standard library's client costs the load
    generator far less CPU than a full-featured one, and the gateway is what is measured."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )
        self._headers = {"X-API-Key": key, "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> None:
        self._conn.request("POST", path, body=body, headers=self._headers)
        resp = self._conn.getresponse()
        data = resp.read()
        if resp.status != 202:
            raise RuntimeError(f"gateway answered {resp.status}: {data[:200]!r}")

    def close(self) -> None:
        self._conn.close()


def _parallel(
    url: str, key: str, clients: int, path: str, bodies: list[bytes]
) -> tuple[float, list[float]]:
    """POST every body with ``clients`` concurrent connections; (seconds, latency per request)."""
    chunks = [bodies[i::clients] for i in range(clients)]
    errors: list[BaseException] = []
    latencies: list[float] = []
    ready = threading.Barrier(clients + 1)

    def worker(items: list[bytes]) -> None:
        client = _Client(url, key)
        mine = []
        ready.wait()
        try:
            for body in items:
                t0 = time.perf_counter()
                client.post(path, body)
                mine.append(time.perf_counter() - t0)
        except BaseException as err:  # noqa: BLE001 - reported after the run
            errors.append(err)
        finally:
            client.close()
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start, latencies


def bench_gateway(
    url: str,
    key: str,
    count: int,
    concurrency: int = 8,
    batch: int = 100,
    server_cpu: Callable[[], float] | None = None,
) -> list[Result]:
    """POST ``count`` single events, then ``count`` events in batches, to a running gateway.

    ``server_cpu`` reads the gateway process's CPU seconds so far, when it can be read.
    """
    run = uuid.uuid4().hex[:8]
    warm = [json.dumps(e).encode() for e in _events(concurrency * 4, run + "w")]
    _parallel(url, key, concurrency, "/v1/events/dispute", warm)  # connections, metadata
    singles = _events(count, run + "o")
    batched = _events(count, run + "b")  # new ids: the same ones would all be duplicates
    runs = [
        (
            f"gateway POST one event ({concurrency} clients)",
            "/v1/events/dispute",
            [json.dumps(e).encode() for e in singles],
        ),
        (
            f"gateway POST batches of {batch} ({concurrency} clients)",
            "/v1/events/dispute/batch",
            [json.dumps(batched[i : i + batch]).encode() for i in range(0, count, batch)],
        ),
    ]
    results = []
    for name, path, bodies in runs:
        cpu0 = server_cpu() if server_cpu else 0.0
        seconds, lat = _parallel(url, key, concurrency, path, bodies)
        cpu = server_cpu() - cpu0 if server_cpu else None
        results.append(Result(name, count, seconds, lat, cpu))
    return results


def process_cpu_seconds(pid: int) -> Callable[[], float] | None:
    """A reader of a process's CPU seconds (user + system), where /proc has them (Linux)."""
    import os

    stat = f"/proc/{pid}/stat"
    if not os.path.exists(stat):
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read
