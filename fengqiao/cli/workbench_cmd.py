"""``fengqiao workbench``: serve the mediator workbench (its own process, default :8070)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("workbench")
    def workbench(
        host: Annotated[str | None, typer.Option(help="Listen address")] = None,
        port: Annotated[int | None, typer.Option(help="Listen port")] = None,
    ) -> None:
        """Serve the mediator workbench (调解员工作台): login, inbox, case pages, actions."""
        import uvicorn

        from consumers.db import SqlStore
        from consumers.lifecycle import KafkaLifecyclePublisher
        from fengqiao.cli import console, settings
        from fengqiao.wiring import publisher_config
        from fengqiao.workbench import account_service, create_workbench_app

        s = settings()
        store = SqlStore.open(s.effective_database_url())
        publisher = KafkaLifecyclePublisher(publisher_config(s))
        accounts = account_service(s, store.engine)
        h, p = host or s.workbench_host, port or s.workbench_port
        console.print(f"workbench: http://{h}:{p}/")
        try:
            uvicorn.run(
                create_workbench_app(s, store, publisher, accounts),
                host=h,
                port=p,
                log_level="warning",
            )
        finally:
            publisher.close()
            store.close()
