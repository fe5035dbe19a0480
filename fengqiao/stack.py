"""``fengqiao up``: the whole local stack as child processes, and a live view of cases flowing.

Ctrl-C (or SIGTERM) stops the children in reverse order of start, then the broker if this run
started it, so nothing is left behind and running it again works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# A simulated year in about five minutes: 100,000 simulated seconds per wall second.
DEFAULT_SPEED = 100_000.0


@dataclass(frozen=True)
class Feed:
    """The simulated year that ``up`` publishes: a fresh seed and run tag per start, so a
    second ``make up`` is not dropped as duplicates of the first."""

    speed: float = DEFAULT_SPEED
    seed: int = 1
    run: str = "up"
    mediators: str | None = None  # the inbox API's URL, once the stack runs sink + API
    # The simulated mediators' committee tokens: every committee but the demo login's, so a
    # person at the workbench has that committee's cases to themselves.
    tokens: Path | None = None

    @classmethod
    def fresh(cls, speed: float = DEFAULT_SPEED, seed: int | None = None) -> Feed:
        stamp = time.strftime("%Y%m%d%H%M%S")
        return cls(
            speed=speed, seed=seed if seed is not None else int(stamp[-6:]), run=f"up{stamp}"
        )

    def manifest(self, settings: Settings) -> Path:
        return settings.home / "simulations" / f"{self.run}.json"


def services(settings: Settings, feed: Feed) -> list[Service]:
    """The processes of the local stack, in start order."""
    cli = (sys.executable, "-m", "fengqiao")
    simulate = (
        *cli,
        "simulate",
        "--speed",
        f"{feed.speed:g}",
        "--seed",
        str(feed.seed),
        "--run",
        feed.run,
        "--manifest",
        str(feed.manifest(settings)),
        *(("--mediators", feed.mediators) if feed.mediators else ()),
        *(("--tokens", str(feed.tokens)) if feed.tokens else ()),
    )
    return [
        Service("worker", (*cli, "worker"), f"http://127.0.0.1:{settings.worker_web_port}/stats"),
        Service(
            "gateway",
            (*cli, "gateway"),
            f"http://{settings.gateway_host}:{settings.gateway_port}/docs",
        ),
        Service(
            "sink",
            (*cli, "sink"),
            f"http://{settings.metrics_host}:{settings.sink_metrics_port}/metrics"
            if settings.sink_metrics_port
            else None,
        ),
        Service("api", (*cli, "api"), f"http://{settings.api_host}:{settings.api_port}/docs"),
        Service(
            "workbench",
            (*cli, "workbench"),
            f"http://{settings.workbench_host}:{settings.workbench_port}/",
        ),
        Service(
            "metrics",
            (*cli, "metrics"),
            f"http://127.0.0.1:{settings.metrics_port}/dashboard",
        ),
        Service("simulator", simulate),
    ]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self.started_broker: Path | None = None
        self.log_dir = settings.home / "logs"

    def start_broker(self) -> str:
        s = self.settings
        broker = localkafka.ensure_broker(s, console=console, partitions=s.topic_partitions)
        if broker.external:
            console.print(f"Using the cluster at [bold]{s.kafka_bootstrap_servers}[/]")
            return broker.bootstrap
        self.started_broker = broker.started
        console.print(
            f"Kafka {s.kafka_version} on [bold]{broker.bootstrap}[/]"
            + ("" if broker.started else " (already running, left running at exit)")
        )
        return broker.bootstrap

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


# The committee whose demo login ``up`` prints; the simulated mediators leave its cases alone.
DEMO_COMMITTEE = "yongzhong-street"


def _demo_logins(settings: Settings, engine: Any) -> tuple[str, str]:
    """One demo account per committee (and one for the command center): the committee whose
    login is shown, and what to print."""
    from fengqiao.workbench import account_service, demo_accounts

    accounts = account_service(settings, engine)
    known = accounts.known_committees
    demo = DEMO_COMMITTEE if DEMO_COMMITTEE in known else min(known)  # another district's
    login = demo_accounts(accounts, demo)
    url = f"http://{settings.workbench_host}:{settings.workbench_port}/"
    if login.password is None:
        how = "the password you chose (forgotten: fengqiao users reset-password USERNAME)"
    else:
        how = f"[bold]{login.password}[/] (you choose your own at the first login)"
    return demo, (
        f"[bold]workbench (调解员工作台)[/] → {url}\n"
        f"  demo login: [bold]{login.username}[/] / {how}\n"
        f"  every committee has a head account demo-<committee id>; the command center has "
        f"demo-command, account administration demo-admin; untouched ones share that first "
        f"password this run "
        f"(fengqiao users list). Simulated mediators leave {demo}'s cases to you."
    )


def _mediator_tokens(settings: Settings, engine: Any, skip: str) -> Path:
    """A token per catalogue committee except ``skip``, in a file only this user can read."""
    from consumers.db import SqlStore
    from consumers.tokens import hash_token, new_token
    from schemas.reference.catalogue import load_catalogue

    store = SqlStore(engine)
    tokens = {}
    for committee in sorted(load_catalogue(settings.catalogue_path).committees):
        if committee != skip:
            tokens[committee] = new_token()
            store.add_token(committee, hash_token(tokens[committee]), "simulated mediators (up)")
    path = settings.home / "simulations" / "mediator-tokens.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f)
    return path


@dataclass
class LiveCounts:
    """What the console shows: routed cases per committee and kind, the simulated date,
    group incidents."""

    committees: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    incidents: set[str] = field(default_factory=set)
    total: int = 0
    latest: str = ""  # event time of the latest routed case (the simulated "now")

    def add(self, topic: str, value: bytes) -> None:
        with contextlib.suppress(Exception):
            env = json.loads(value)
            data = env["data"]
            if topic.endswith("incidents"):
                self.incidents.add(data["incident_id"])
                return
            self.total += 1
            self.committees[data["committee_id"]] += 1
            self.kinds[data["kind"]] += 1
            self.latest = max(self.latest, str(env["time"])[:10])


KIND_LABELS = {
    "dispute": "纠纷 disputes",
    "petition": "信访 petitions",
    "wage_arrears": "欠薪 wage",
}


def _view(c: LiveCounts, started: float, dead: list[str], note: str) -> Table:
    rate = c.total / max(time.time() - started, 1)
    table = Table(
        title=f"龙湾 Longwan · simulated {c.latest or '…'} · cases routed {c.total:,} "
        f"({rate:.0f}/s) · group incidents {len(c.incidents)}   Ctrl-C to stop"
    )
    table.add_column("committee")
    table.add_column("cases", justify="right")
    table.add_column("kind")
    table.add_column("cases", justify="right")
    kinds = [(KIND_LABELS.get(k, k), n) for k, n in c.kinds.most_common()]
    for i, (committee, n) in enumerate(c.committees.most_common(12)):
        kind, kn = kinds[i] if i < len(kinds) else ("", "")
        table.add_row(committee, f"{n:,}", kind, f"{kn:,}" if kn != "" else "")
    captions = [note] if note else []
    if dead:
        captions.append("[red]stopped: " + ", ".join(dead) + " (see logs)")
    table.caption = "\n".join(captions) or None
    return table


def run_stack(settings: Settings, feed: Feed | None = None) -> int:
    from kafka import KafkaConsumer

    feed = feed or Feed.fresh()
    stack = Stack(settings)
    consumer: KafkaConsumer | None = None

    def _term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    # Ctrl-C stops the stack even when started from a shell that ignores SIGINT for background
    # jobs (nohup, `cmd &` in a script): Python then leaves SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        bootstrap = stack.start_broker()
        created, _ = create_topics(settings)
        console.print(f"topics ready ({len(created)} created)")
        env = dict(os.environ)
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        # The simulated year runs in 2022: rules that need "now" (SLA clocks) follow event
        # time, not the wall clock, or every simulated case would be years overdue.
        env["FENGQIAO_CLOCK"] = "stream"
        consumer = KafkaConsumer(
            settings.topic("cases.routed"),
            settings.topic("incidents"),
            bootstrap_servers=bootstrap.split(","),
            auto_offset_reset="latest",
            enable_auto_commit=False,
            group_id=None,
            **settings.kafka_client_config(),
        )
        # Join before the simulator starts, so the view misses none of this run's cases.
        deadline = time.time() + 15
        while not consumer.assignment() and time.time() < deadline:
            consumer.poll(timeout_ms=200)
        # One migration before the sink and the API start, rather than both racing to it.
        from consumers.db import make_engine, upgrade

        engine = make_engine(settings.effective_database_url())
        upgrade(engine)
        demo, login = _demo_logins(settings, engine)
        if feed.mediators is None:  # simulated mediators work the inbox through the API
            feed = dataclasses.replace(
                feed,
                mediators=f"http://{settings.api_host}:{settings.api_port}",
                tokens=_mediator_tokens(settings, engine, skip=demo),
            )
        engine.dispose()
        for svc in services(settings, feed):
            stack.spawn(svc, env)
            console.print(f"started {svc.name}" + (f"  → {svc.url}" if svc.url else ""))
        console.print(
            f"simulating Longwan 2022 at {feed.speed:g}x (a year in "
            f"{365 * 86400 / feed.speed / 60:.0f} min), run {feed.run}, seed {feed.seed}"
        )
        console.print(f"logs in {stack.log_dir}")
        console.print(login)
        _watch(stack, consumer, feed.manifest(settings))
    except KeyboardInterrupt:
        console.print("\nshutting down")
    finally:
        if consumer is not None:
            consumer.close()
        stack.stop()
        manifest = feed.manifest(settings)
        if manifest.exists():
            console.print(f"compare with the ground truth: fengqiao report --manifest {manifest}")
    return 0


def _watch(stack: Stack, consumer: object, manifest: Path) -> None:
    """Routed cases per committee and kind: a live table on a terminal, a line every 5 s else."""
    counts = LiveCounts()
    started, last_line = time.time(), 0.0

    def poll() -> tuple[list[str], str]:
        batches = consumer.poll(timeout_ms=500)  # type: ignore[attr-defined]
        for msgs in batches.values():
            for msg in msgs:
                counts.add(msg.topic, msg.value)
        dead, note = [], ""
        for svc, p in stack.procs:
            rc = p.poll()
            if rc is None:
                continue
            if svc.name == "simulator" and rc == 0:
                note = f"[green]simulated year published[/]; fengqiao report --manifest {manifest}"
            else:
                dead.append(svc.name)
        return dead, note

    if console.is_terminal:
        with Live(_view(counts, started, [], ""), console=console, refresh_per_second=2) as live:
            while True:
                dead, note = poll()
                live.update(_view(counts, started, dead, note))
    while True:
        dead, note = poll()
        if time.time() - last_line >= 5:
            last_line = time.time()
            top = ", ".join(f"{c} {n}" for c, n in counts.committees.most_common(3))
            console.print(
                f"simulated {counts.latest or '…'} · cases routed: {counts.total} · "
                f"group incidents: {len(counts.incidents)} (top: {top})"
                + (f"  STOPPED: {', '.join(dead)}" if dead else "")
                + (f"  {note}" if note else "")
            )
