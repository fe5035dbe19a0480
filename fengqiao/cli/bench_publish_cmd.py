"""``fengqiao bench-publish``: events per second through the SDK and the HTTP gateway."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("bench-publish")
    def bench_publish(
        count: Annotated[int, typer.Option(help="Events per measurement")] = 5000,
        via: Annotated[str, typer.Option(help="sdk, gateway or both")] = "both",
        concurrency: Annotated[int, typer.Option(help="HTTP clients for the gateway")] = 8,
        batch: Annotated[int, typer.Option(help="Events per gateway batch request")] = 100,
    ) -> None:
        """Publish COUNT valid disputes (acks=all) and print events/s; needs a running broker."""
        import logging

        from rich.console import Console
        from rich.table import Table

        from fengqiao.cli import settings
        from producers.bench import bench_gateway, bench_sdk

        logging.getLogger("httpx").setLevel(logging.WARNING)
        s = settings()
        results = []
        if via in ("sdk", "both"):
            results += bench_sdk(s, count)
        if via in ("gateway", "both"):
            results += bench_gateway(s, count, concurrency=concurrency, batch=batch)
        table = Table("path", "events", "seconds", "events/s", title="publish rate")
        for r in results:
            table.add_row(r.name, str(r.events), f"{r.seconds:.2f}", f"{r.rate:,.0f}")
        Console().print(table)
