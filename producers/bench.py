"""Measure how fast events can be published: the SDK directly, and through the HTTP gateway.

Every event is validated and acknowledged by Kafka (acks=all); the numbers are events per
second end to end on the machine it runs on. ``fengqiao bench-publish`` prints them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fengqiao.settings import Settings
from producers.sample import dispute
from producers.sdk import Publisher

SOURCE = "bench/publish"


@dataclass
class Result:
    name: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _events(n: int, run: str) -> list[dict[str, Any]]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        ev = dispute(rng, f"bench-{run}-{i:07d}", _when())
        ev["source"] = SOURCE
        out.append(ev)
    return out


def _when() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(minutes=1)


def bench_sdk(settings: Settings, count: int) -> list[Result]:
    """Pipelined sends (validate + send, one flush) and one-at-a-time ``publish`` (wait per ack)."""
    run = uuid.uuid4().hex[:8]
    events = _events(count, run)
    results = []
    with Publisher(settings, client_id="fengqiao-bench") as pub:
        pub.publish("dispute", _events(1, run + "w")[0])  # warm up: metadata, connection
        start = time.perf_counter()
        futs = [pub.send(ev, "dispute")[1] for ev in events]
        pub.flush()
        for f in futs:
            f.get(timeout=30)
        results.append(Result("sdk send (pipelined, acks=all)", count, time.perf_counter() - start))
        sync = _events(max(count // 10, 1), run + "s")
        start = time.perf_counter()
        for ev in sync:
            pub.publish("dispute", ev)
        results.append(
            Result("sdk publish (wait for each ack)", len(sync), time.perf_counter() - start)
        )
    return results


def _parallel(n_threads: int, work: list[Any], fn: Callable[[httpx.Client, Any], None]) -> float:
    chunks = [work[i::n_threads] for i in range(n_threads)]
    errors: list[BaseException] = []

    def worker(items: list[Any]) -> None:
        with httpx.Client(timeout=60) as http:
            for item in items:
                try:
                    fn(http, item)
                except BaseException as err:  # noqa: BLE001 - reported after the run
                    errors.append(err)
                    return

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def bench_gateway(
    settings: Settings, count: int, concurrency: int = 8, batch: int = 100
) -> list[Result]:
    """Start ``fengqiao gateway`` as a process and POST events to it over loopback HTTP."""
    from fengqiao import localkafka
    from producers.keystore import KeyStore

    key = KeyStore(settings.effective_gateway_db_url()).create(SOURCE)[1]
    port = localkafka.free_port()
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.resolved_bootstrap(),
            "FENGQIAO_TOPIC_PREFIX": settings.topic_prefix,
            "FENGQIAO_HOME": str(settings.home),
        }
    )
    if settings.gateway_db_url:
        env["FENGQIAO_GATEWAY_DB_URL"] = settings.gateway_db_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "fengqiao", "gateway", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": key}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.2)
        run = uuid.uuid4().hex[:8]
        warm = _events(1, run + "w")[0]
        httpx.post(f"{url}/v1/events/dispute", json=warm, headers=headers, timeout=60)

        def one(http: httpx.Client, ev: dict[str, Any]) -> None:
            r = http.post(f"{url}/v1/events/dispute", json=ev, headers=headers)
            if r.status_code != 202:
                raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:200]}")

        singles = _events(count, run + "o")
        results = [
            Result(
                f"gateway POST one event ({concurrency} clients)",
                count,
                _parallel(concurrency, singles, one),
            )
        ]
        batches_of = _events(count, run + "b")
        batches = [batches_of[i : i + batch] for i in range(0, count, batch)]

        def many(http: httpx.Client, evs: list[dict[str, Any]]) -> None:
            r = http.post(f"{url}/v1/events/dispute/batch", json=evs, headers=headers)
            if r.status_code != 202:
                raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:200]}")

        results.append(
            Result(
                f"gateway POST batches of {batch} ({concurrency} clients)",
                count,
                _parallel(concurrency, batches, many),
            )
        )
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
