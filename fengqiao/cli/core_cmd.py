"""Core commands: topics, the stream worker, a sample feed and ``up`` (the whole local stack)."""

from __future__ import annotations

import random
import time
import uuid
from typing import Annotated

import typer

from fengqiao.settings import Settings


def register(app: typer.Typer) -> None:
    topics = typer.Typer(help="Manage the topic catalogue.", no_args_is_help=True)
    app.add_typer(topics, name="topics")

    @topics.command("create")
    def topics_create() -> None:
        """Create every topic of the catalogue that does not exist yet (idempotent)."""
        from fengqiao.admin import create_topics
        from fengqiao.cli import console, settings

        created, there = create_topics(settings())
        for name in created:
            console.print(f"created  {name}")
        console.print(f"{len(created)} created, {len(there)} already there")

    @topics.command("list")
    def topics_list() -> None:
        """Print the topic catalogue: name, key, cleanup policy, messages."""
        from rich.table import Table

        from fengqiao.cli import settings
        from schemas.topics import TOPICS

        table = Table("topic", "key", "cleanup", "messages")
        for spec in TOPICS:
            table.add_row(
                settings().topic(spec.name), spec.key, spec.cleanup_policy, ", ".join(spec.messages)
            )
        from rich.console import Console

        Console().print(table)

    @app.command("worker")
    def worker(
        loglevel: Annotated[str, typer.Option(help="faust log level")] = "WARNING",
        web_port: Annotated[int | None, typer.Option(help="Worker HTTP port")] = None,
    ) -> None:
        """Run the stream worker (faust): intake, routing, incidents, risk, SLA."""
        from fengqiao.cli import settings
        from fengqiao.workerwiring import worker_config
        from streams.app import create_app
        from streams.runtime.patches import RuntimeNotPatched
        from streams.runtime.versions import UntestedRuntime
        from streams.worker import Worker

        s = settings()
        if web_port is not None:
            s = s.model_copy(update={"worker_web_port": web_port})
        configure_runtime(s)
        try:
            app_, ctx = create_app(worker_config(s))
        except (UntestedRuntime, RuntimeNotPatched) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        Worker(
            app_, loglevel=loglevel, quiet=True, connection_log=ctx.connection_log
        ).execute_from_commandline()

    @app.command("feed")
    def feed(
        rate: Annotated[float, typer.Option(help="Events per second")] = 5.0,
        count: Annotated[int, typer.Option(help="Stop after this many (0: until Ctrl-C)")] = 0,
        seed: Annotated[int | None, typer.Option(help="Random seed")] = None,
    ) -> None:
        """Publish random valid sample events (disputes, petitions, wage claims)."""
        from fengqiao.cli import console, settings
        from producers.sample import random_event
        from producers.sdk import Publisher

        rng = random.Random(seed)
        run = uuid.uuid4().hex[:8]
        n = 0
        with Publisher(settings()) as pub:
            while count == 0 or n < count:
                kind, ev = random_event(rng, n, run=run)
                pub.send(ev, kind)
                n += 1
                if n % 50 == 0:
                    console.print(f"fed {n} events")
                time.sleep(1.0 / rate if rate > 0 else 0)
        console.print(f"fed {n} events")

    @app.command("up")
    def up(
        speed: Annotated[
            float, typer.Option(help="Simulated seconds per wall second (100000: a year in ~5 min)")
        ] = 100_000.0,
        seed: Annotated[
            int | None, typer.Option(help="Seed of the simulated year [default: new each run]")
        ] = None,
    ) -> None:
        """Run the whole local stack until Ctrl-C: broker, topics, worker, a simulated year of
        Longwan, live view."""
        from fengqiao.cli import settings
        from fengqiao.stack import Feed, run_stack

        raise typer.Exit(run_stack(settings(), Feed.fresh(speed, seed)))


def configure_runtime(s: Settings) -> None:
    """The worker process's event loop and garbage collector, as the settings say."""
    if s.worker_uvloop:
        import asyncio

        try:
            import uvloop
        except ImportError:  # not built for this platform: asyncio's own loop works too
            pass
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    import gc

    gc.set_threshold(*s.worker_gc_threshold)
