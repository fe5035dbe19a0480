"""``fengqiao kafka start|status|stop``: the project's own single-node broker on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fengqiao import localkafka


def _data_dir(data_dir: Path | None) -> Path:
    from fengqiao.cli import settings

    return data_dir or (settings().home / "kafka")


DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Broker state directory [default: ~/.fengqiao/kafka]"),
]


def register(app: typer.Typer) -> None:
    kafka = typer.Typer(
        help="Run a real local Apache Kafka broker (KRaft, loopback only).", no_args_is_help=True
    )
    app.add_typer(kafka, name="kafka")

    @kafka.command("start")
    def start(
        port: Annotated[int | None, typer.Option(help="Client port [default: 9092]")] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Start the broker in the background (once) and print its bootstrap address."""
        from fengqiao.cli import console, settings

        s = settings()
        if s.uses_external_cluster:
            console.print(
                f"KAFKA_BOOTSTRAP_SERVERS is set: using {s.kafka_bootstrap_servers}, "
                "nothing started."
            )
            typer.echo(s.kafka_bootstrap_servers)
            return
        with console.status("starting Kafka") as status:
            bootstrap, started = localkafka.start(
                data_dir=_data_dir(data_dir),
                cache_dir=s.cache_dir,
                version=s.kafka_version,
                port=port or s.kafka_port,
                heap=s.kafka_heap,
                partitions=s.topic_partitions,
                progress=lambda msg: status.update(msg),
            )
        console.print(
            f"Kafka {s.kafka_version} {'started' if started else 'already running'} on {bootstrap}"
        )
        typer.echo(bootstrap)

    @kafka.command("status")
    def status(data_dir: DataDir = None) -> None:
        """Say whether the local broker runs and answers; exit 1 when it does not."""
        d = _data_dir(data_dir)
        pid = localkafka.running_pid(d)
        port = localkafka.running_port(d)
        if pid is None or port is None:
            typer.echo(f"not running (data dir {d})")
            raise typer.Exit(1)
        ok = localkafka.metadata_ready(f"127.0.0.1:{port}")
        typer.echo(
            f"running: pid {pid}, 127.0.0.1:{port}, {'answering' if ok else 'NOT answering'}"
        )
        if not ok:
            raise typer.Exit(1)

    @kafka.command("stop")
    def stop(data_dir: DataDir = None) -> None:
        """Stop the local broker; leaves no Java process behind."""
        d = _data_dir(data_dir)
        typer.echo("stopped" if localkafka.stop(d) else f"not running (data dir {d})")

    @kafka.command("jars")
    def jars() -> None:
        """Resolve the broker jars into the cache (done by ``start`` on first use)."""
        from fengqiao.cli import console, settings

        s = settings()
        with console.status("resolving Kafka jars") as st:
            libs = localkafka.ensure_jars(s.cache_dir, s.kafka_version, lambda m: st.update(m))
        typer.echo(str(libs))
