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
        """Serve /metrics (Prometheus) and /dashboard, fed from the Kafka topics.

        The dashboard needs a command or admin account's workbench session; its trends and
        drill-downs read the case store (database_url)."""
        from consumers.dashboard import MetricsExposure, serve
        from consumers.db import make_engine, upgrade
        from fengqiao.cli import console, fail, settings
        from fengqiao.metrics_wiring import command_gate, dashboard_config, login_url
        from fengqiao.workbench import account_service

        s = settings()
        s = s.model_copy(
            update={
                "metrics_port": port if port is not None else s.metrics_port,
                "metrics_host": host or s.metrics_host,
            }
        )
        engine = make_engine(s.effective_database_url())
        upgrade(engine)  # the accounts' and cases' tables, if this process starts first
        gate = command_gate(account_service(s, engine), login_url(s))
        console.print(
            f"metrics on http://{s.metrics_host}:{s.metrics_port}/metrics, "
            f"dashboard on http://{s.metrics_host}:{s.metrics_port}/dashboard "
            f"(login at {gate.login_url}), "
            f"readiness on http://{s.metrics_host}:{s.metrics_port}/readyz"
        )
        try:
            code = serve(dashboard_config(s), gate, engine)
        except MetricsExposure as err:
            raise fail(str(err)) from err
        finally:
            engine.dispose()
        raise typer.Exit(code)
