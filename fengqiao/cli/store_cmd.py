"""Case store commands: ``db upgrade``, ``sink``, ``api`` and ``tokens create/list/revoke``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="The case store's database.", no_args_is_help=True)
    app.add_typer(db, name="db")
    tokens = typer.Typer(help="Inbox API tokens.", no_args_is_help=True)
    app.add_typer(tokens, name="tokens")

    @db.command("upgrade")
    def db_upgrade(
        revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    ) -> None:
        """Apply the schema migrations (the sink and the API also do this on start)."""
        from consumers.db import current_revision, make_engine, upgrade
        from fengqiao.cli import console, settings

        engine = make_engine(settings().effective_database_url())
        try:
            upgrade(engine, revision)
            console.print(f"database at revision {current_revision(engine)}")
        finally:
            engine.dispose()

    @tokens.command("create")
    def tokens_create(
        committee: Annotated[str, typer.Option(help="Committee id the token is bound to")],
        label: Annotated[str | None, typer.Option(help="A note on who holds it")] = None,
    ) -> None:
        """Create an inbox token for a committee. It is printed once and stored only hashed."""
        from consumers.db import SqlStore
        from consumers.tokens import hash_token, new_token
        from fengqiao.cli import console, fail, settings
        from fengqiao.wiring import committee_names

        committee = committee.strip()
        if not committee:
            raise fail("--committee must not be empty")
        s = settings()
        known = committee_names(s)
        if committee not in known:
            import difflib

            near = difflib.get_close_matches(committee, list(known), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise fail(
                f"--committee: there is no such committee in the catalogue "
                f"({len(known)} committees){hint}"
            )
        store = SqlStore.open(s.effective_database_url())
        try:
            token = new_token()
            store.add_token(committee, hash_token(token), label)
        finally:
            store.close()
        console.print(f"token for committee [bold]{committee}[/] (shown once, keep it safe):")
        print(token)

    @tokens.command("list")
    def tokens_list(
        committee: Annotated[str | None, typer.Option(help="Only this committee's")] = None,
    ) -> None:
        """List inbox tokens: id (start of the stored hash), committee, label, created."""
        from rich.table import Table

        from consumers.db import SqlStore
        from fengqiao.cli import console, settings

        store = SqlStore.open(settings().effective_database_url())
        try:
            infos = [i for i in store.list_tokens() if committee in (None, i.committee_id)]
        finally:
            store.close()
        if not infos:
            console.print("no tokens" + (f" for committee {committee}" if committee else ""))
            return
        table = Table("id", "committee", "label", "created (UTC)")
        for i in infos:
            table.add_row(
                i.token_id, i.committee_id, i.label or "", i.created_at.strftime("%Y-%m-%d %H:%M")
            )
        console.print(table)

    @tokens.command("revoke")
    def tokens_revoke(
        token_id: Annotated[str, typer.Argument(help="The id `fengqiao tokens list` shows")],
    ) -> None:
        """Revoke an inbox token: requests with it get 401 from then on."""
        from consumers.db import SqlStore
        from fengqiao.cli import console, fail, settings

        store = SqlStore.open(settings().effective_database_url())
        try:
            try:
                info = store.revoke_token(token_id)
            except ValueError as err:
                raise fail(str(err)) from None
        finally:
            store.close()
        if info is None:
            raise fail(f"no token with id {token_id.strip()} (see `fengqiao tokens list`)")
        label = f" ({info.label})" if info.label else ""
        console.print(f"revoked token {info.token_id} of committee {info.committee_id}{label}")

    @app.command("sink")
    def sink() -> None:
        """Write derived events into the case store; offsets committed after the DB commit."""
        import signal

        from consumers.db import SqlStore
        from consumers.sink import SINK_TOPICS, Sink, serve_metrics
        from fengqiao.cli import console, fail, settings
        from fengqiao.wiring import configure_sink_runtime, sink_config

        s = settings()
        configure_sink_runtime(s)
        store = SqlStore.open(s.effective_database_url())
        runner = Sink(sink_config(s), store)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop.set())
        signal.signal(signal.SIGINT, lambda *_: runner.stop.set())
        console.print(f"sink: {', '.join(s.topic(t) for t in SINK_TOPICS)} → {store.engine.url!r}")
        if s.sink_metrics_port:
            try:
                serve_metrics(runner.stats, s.metrics_host, s.sink_metrics_port, runner.ready)
            except OSError as err:
                store.close()
                raise fail(
                    f"cannot serve the sink's metrics on {s.metrics_host}:{s.sink_metrics_port} "
                    f"({err.strerror}); set FENGQIAO_SINK_METRICS_PORT to a free port"
                ) from None
            console.print(
                f"sink metrics: http://{s.metrics_host}:{s.sink_metrics_port}/metrics "
                "(and /healthz, /readyz)"
            )
        try:
            stats = runner.run()
        finally:
            store.close()
        console.print(f"sink stopped: {stats}")

    @app.command("api")
    def api(
        host: Annotated[str | None, typer.Option(help="Listen address")] = None,
        port: Annotated[int | None, typer.Option(help="Listen port")] = None,
    ) -> None:
        """Serve the mediator inbox API (OpenAPI at /docs and /openapi.json)."""
        import uvicorn

        from consumers.api import create_app
        from consumers.db import SqlStore
        from consumers.lifecycle import KafkaLifecyclePublisher
        from fengqiao.cli import settings
        from fengqiao.wiring import api_config, publisher_config

        s = settings()
        store = SqlStore.open(s.effective_database_url())
        publisher = KafkaLifecyclePublisher(publisher_config(s))
        try:
            uvicorn.run(
                create_app(api_config(s), store, publisher),
                host=host or s.api_host,
                port=port or s.api_port,
                log_level="warning",
            )
        finally:
            publisher.close()
            store.close()
