"""``fengqiao up``: the whole local stack as child processes, and a live view of cases flowing.

Ctrl-C (or SIGTERM) stops the children in reverse order of start, then the broker if this run
started it, so nothing is left behind and running it again works.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings

console = Console()


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]
    url: str | None = None


def services(settings: Settings, rate: float) -> list[Service]:
    """The processes of the local stack, in start order."""
    cli = (sys.executable, "-m", "fengqiao")
    return [
        Service("worker", (*cli, "worker"), f"http://127.0.0.1:{settings.worker_web_port}/stats"),
        Service(
            "gateway",
            (*cli, "gateway"),
            f"http://{settings.gateway_host}:{settings.gateway_port}/docs",
        ),
        Service("feed", (*cli, "feed", "--rate", str(rate))),
    ]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self.started_broker: Path | None = None
        self.log_dir = settings.home / "logs"

    def start_broker(self) -> str:
        s = self.settings
        if s.uses_external_cluster:
            console.print(f"Using the cluster at [bold]{s.kafka_bootstrap_servers}[/]")
            return s.resolved_bootstrap()
        data_dir = s.home / "kafka"
        with console.status("starting Kafka") as status:
            bootstrap, started = localkafka.start(
                data_dir=data_dir,
                cache_dir=s.cache_dir,
                version=s.kafka_version,
                port=s.kafka_port,
                heap=s.kafka_heap,
                partitions=s.topic_partitions,
                progress=lambda m: status.update(m),
            )
        if started:
            self.started_broker = data_dir
        console.print(
            f"Kafka {s.kafka_version} on [bold]{bootstrap}[/]"
            + ("" if started else " (already running, left running at exit)")
        )
        return bootstrap

    def spawn(self, svc: Service, env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{svc.name}.log").open("ab")
        proc = subprocess.Popen(
            svc.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append((svc, proc))

    def stop(self) -> None:
        for svc, proc in reversed(self.procs):
            if proc.poll() is None:
                console.print(f"stopping {svc.name}")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs.clear()
        if self.started_broker is not None:
            console.print("stopping Kafka")
            localkafka.stop(self.started_broker)
            self.started_broker = None


def _view(counts: Counter[str], total: int, started: float, dead: list[str]) -> Table:
    table = Table(
        title=f"cases routed: {total}  ({total / max(time.time() - started, 1):.1f}/s)"
        "   Ctrl-C to stop"
    )
    table.add_column("committee")
    table.add_column("cases", justify="right")
    for committee, n in counts.most_common(12):
        table.add_row(committee, str(n))
    if dead:
        table.caption = "[red]stopped: " + ", ".join(dead) + " (see logs)"
    return table


def run_stack(settings: Settings, rate: float = 5.0) -> int:
    from kafka import KafkaConsumer

    stack = Stack(settings)
    consumer: KafkaConsumer | None = None

    def _term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        bootstrap = stack.start_broker()
        created, _ = create_topics(settings)
        console.print(f"topics ready ({len(created)} created)")
        env = dict(os.environ)
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        for svc in services(settings, rate):
            stack.spawn(svc, env)
            console.print(f"started {svc.name}" + (f"  → {svc.url}" if svc.url else ""))
        console.print(f"logs in {stack.log_dir}")
        consumer = KafkaConsumer(
            settings.topic("cases.routed"),
            bootstrap_servers=bootstrap.split(","),
            auto_offset_reset="latest",
            enable_auto_commit=False,
            group_id=None,
            **settings.kafka_client_config(),
        )
        _watch(stack, consumer)
    except KeyboardInterrupt:
        console.print("\nshutting down")
    finally:
        if consumer is not None:
            consumer.close()
        stack.stop()
    return 0


def _watch(stack: Stack, consumer: object) -> None:
    """Count routed cases per committee: a live table on a terminal, a line every 5 s else."""
    counts: Counter[str] = Counter()
    total, started, last_line = 0, time.time(), 0.0

    def poll() -> list[str]:
        nonlocal total
        batches = consumer.poll(timeout_ms=500)  # type: ignore[attr-defined]
        for msgs in batches.values():
            for msg in msgs:
                total += 1
                with contextlib.suppress(Exception):
                    counts[json.loads(msg.value)["data"]["committee_id"]] += 1
        return [svc.name for svc, p in stack.procs if p.poll() is not None and svc.name != "feed"]

    if console.is_terminal:
        with Live(_view(counts, 0, started, []), console=console, refresh_per_second=2) as live:
            while True:
                live.update(_view(counts, total, started, poll()))
    while True:
        dead = poll()
        if time.time() - last_line >= 5:
            last_line = time.time()
            top = ", ".join(f"{c} {n}" for c, n in counts.most_common(3))
            console.print(
                f"cases routed: {total}  (top: {top})"
                + (f"  STOPPED: {', '.join(dead)}" if dead else "")
            )
