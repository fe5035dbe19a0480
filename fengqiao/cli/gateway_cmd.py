"""``fengqiao gateway`` (the HTTP ingest gateway) and ``fengqiao keys`` (its API keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fengqiao.settings import Settings
    from producers.gateway import GatewayConfig
    from producers.keystore import KeyStore


def gateway_config(s: Settings) -> GatewayConfig:
    """The gateway's typed config from the process's settings."""
    from datetime import timedelta

    from producers.gateway import GatewayConfig

    return GatewayConfig(
        publisher=s.publisher_config(),
        db_url=s.effective_gateway_db_url(),
        max_body_bytes=s.gateway_max_body_bytes,
        max_batch=s.gateway_max_batch,
        kafka_timeout_s=s.gateway_kafka_timeout_s,
        retry_after_s=s.gateway_retry_after_s,
        idempotency_horizon=timedelta(days=s.dedupe_horizon_days),
    )


def register(app: typer.Typer) -> None:
    @app.command("gateway")
    def gateway(
        host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
        port: Annotated[
            int | None, typer.Option(help="Port (default FENGQIAO_GATEWAY_PORT)")
        ] = None,
    ) -> None:
        """Run the HTTP ingest gateway: POST /v1/events/{kind}, OpenAPI at /docs."""
        import uvicorn

        from fengqiao.cli import console, settings
        from producers.gateway import create_app

        s = settings()
        h, p = host or s.gateway_host, port or s.gateway_port
        console.print(f"gateway on http://{h}:{p}  (OpenAPI: /openapi.json, /docs)")
        # httptools parses HTTP in C and uvloop runs the loop in C: at a thousand requests a
        # second the pure-Python h11 parser alone would take a large share of a core.
        uvicorn.run(
            create_app(gateway_config(s)),
            host=h,
            port=p,
            log_level="warning",
            access_log=False,
            http="httptools",
            loop="uvloop",
            backlog=2048,
        )

    keys = typer.Typer(help="API keys of the HTTP ingest gateway.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    def _store() -> KeyStore:
        from fengqiao.cli import settings
        from producers.keystore import KeyStore

        return KeyStore(settings().effective_gateway_db_url())

    @keys.command("create")
    def keys_create(
        source: Annotated[str, typer.Option(help="The event source this key may publish")],
    ) -> None:
        """Create a key bound to SOURCE; the key is printed once (stdout) and stored hashed."""
        import re

        from fengqiao.cli import console, fail
        from schemas.envelope import SOURCE_PATTERN

        if not re.match(SOURCE_PATTERN, source):
            raise fail(f"not a valid event source (e.g. hotline/12348): {source!r}")
        record, key = _store().create(source)
        console.print(f"key {record.id} for source [bold]{source}[/]; it is shown only now:")
        print(key)

    @keys.command("list")
    def keys_list() -> None:
        """List keys (id, source, first characters, created, revoked); never the keys."""
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "source", "starts with", "created", "revoked")
        for k in _store().all_keys():
            table.add_row(
                str(k.id),
                k.source,
                k.hint + "…",
                k.created_at.isoformat(timespec="seconds"),
                "yes" if k.revoked else "",
            )
        Console().print(table)

    @keys.command("revoke")
    def keys_revoke(
        key_id: Annotated[int, typer.Argument(help="The key's id (keys list)")],
    ) -> None:
        """Revoke a key: requests with it get 401 from now on."""
        from fengqiao.cli import console, fail

        if not _store().revoke(key_id):
            raise fail(f"no key with id {key_id}")
        console.print(f"key {key_id} revoked")
