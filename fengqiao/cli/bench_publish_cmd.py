"""``fengqiao bench-publish``: events per second and latency through the SDK and the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fengqiao.settings import Settings


@contextmanager
def _gateway_process(s: Settings) -> Iterator[tuple[str, int]]:
    """``fengqiao gateway`` as its own process on a free port, as it runs in production."""
    import httpx

    from fengqiao import localkafka

    port = localkafka.free_port()
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": s.resolved_bootstrap(),
            "FENGQIAO_TOPIC_PREFIX": s.topic_prefix,
            "FENGQIAO_HOME": str(s.home),
        }
    )
    if s.gateway_db_url:
        env["FENGQIAO_GATEWAY_DB_URL"] = s.gateway_db_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "fengqiao", "gateway", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
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
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def register(app: typer.Typer) -> None:
    @app.command("bench-publish")
    def bench_publish(
        count: Annotated[int, typer.Option(help="Events per measurement")] = 5000,
        via: Annotated[str, typer.Option(help="sdk, gateway or both")] = "both",
        concurrency: Annotated[int, typer.Option(help="HTTP clients for the gateway")] = 8,
        batch: Annotated[int, typer.Option(help="Events per gateway batch request")] = 100,
        url: Annotated[
            str | None,
            typer.Option(help="Measure a gateway already running there (its key store is ours)"),
        ] = None,
        pid: Annotated[
            int | None, typer.Option(help="With --url: the gateway's process id, for its CPU")
        ] = None,
    ) -> None:
        """Publish COUNT valid disputes (acks=all): events/s and p50/p95/p99; needs a broker."""
        import logging

        from rich.console import Console
        from rich.table import Table

        from fengqiao.cli import settings
        from producers.bench import SOURCE, bench_gateway, bench_sdk, process_cpu_seconds
        from producers.keystore import KeyStore

        logging.getLogger("httpx").setLevel(logging.WARNING)
        s = settings()
        results = []
        if via in ("sdk", "both"):
            results += bench_sdk(s.publisher_config(), count)
        if via in ("gateway", "both"):
            key = KeyStore(s.effective_gateway_db_url()).create(SOURCE)[1]
            if url:
                results += bench_gateway(
                    url,
                    key,
                    count,
                    concurrency=concurrency,
                    batch=batch,
                    server_cpu=process_cpu_seconds(pid) if pid else None,
                )
            else:
                with _gateway_process(s) as (started, pid):
                    results += bench_gateway(
                        started,
                        key,
                        count,
                        concurrency=concurrency,
                        batch=batch,
                        server_cpu=process_cpu_seconds(pid),
                    )

        def ms(v: float | None) -> str:
            return "" if v is None else f"{v * 1000:,.1f}"

        table = Table(
            "path",
            "events",
            "seconds",
            "events/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "gateway CPU ms/event",
            title="publish rate (latency per request)",
        )
        for r in results:
            table.add_row(
                r.name,
                str(r.events),
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                ms(r.percentile(50)),
                ms(r.percentile(95)),
                ms(r.percentile(99)),
                "" if r.server_cpu_ms_per_event is None else f"{r.server_cpu_ms_per_event:.3f}",
            )
        Console().print(table)
