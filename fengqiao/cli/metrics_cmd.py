"""``fengqiao metrics``: the monitoring sink and the command-center dashboard in one process."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("metrics")
    def metrics(
        port: Annotated[int | None, typer.Option(help="HTTP port (default: metrics_port)")] = None,
        host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    ) -> None:
        """Serve /metrics (Prometheus) and /dashboard, fed from the Kafka topics."""
        from consumers.dashboard import serve
        from fengqiao.cli import console, settings
        from fengqiao.metrics_wiring import dashboard_config

        s = settings()
        s = s.model_copy(
            update={
                "metrics_port": port if port is not None else s.metrics_port,
                "metrics_host": host or s.metrics_host,
            }
        )
        console.print(
            f"metrics on http://{s.metrics_host}:{s.metrics_port}/metrics, "
            f"dashboard on http://{s.metrics_host}:{s.metrics_port}/dashboard, "
            f"readiness on http://{s.metrics_host}:{s.metrics_port}/readyz"
        )
        raise typer.Exit(serve(dashboard_config(s)))
