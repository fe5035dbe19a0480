"""``fengqiao kafka start|status|stop``: the project's own broker on loopback, a single node
or a multi-node cluster (``--brokers 3``), optionally secured with TLS and SCRAM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fengqiao import localcluster, localkafka, localsecurity


def _data_dir(data_dir: Path | None) -> Path:
    from fengqiao.cli import settings

    return data_dir or (settings().home / "kafka")


def _cluster_dir(data_dir: Path | None) -> Path:
    from fengqiao.cli import settings

    return data_dir or (settings().home / "kafka-cluster")


def _cluster_in(data_dir: Path | None) -> Path | None:
    """The cluster to act on: the given data dir when it holds one, else the default one."""
    d = _cluster_dir(data_dir)
    return d if localcluster.is_cluster(d) else None


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Broker state directory [default: ~/.fengqiao/kafka, or ~/.fengqiao/kafka-cluster "
        "for a cluster]",
    ),
]
Node = Annotated[int | None, typer.Option("--node", help="Only this node of the cluster (1…N)")]


def register(app: typer.Typer) -> None:
    kafka = typer.Typer(
        help="Run a real local Apache Kafka broker or cluster (KRaft, loopback only).",
        no_args_is_help=True,
    )
    app.add_typer(kafka, name="kafka")

    @kafka.command("start")
    def start(
        port: Annotated[
            int | None, typer.Option(help="Client port (a cluster's first) [default: 9092]")
        ] = None,
        brokers: Annotated[
            int, typer.Option(min=1, max=9, help="Nodes: 1, or a cluster (3: replication 3)")
        ] = 1,
        node: Node = None,
        secure: Annotated[
            bool,
            typer.Option(help="SASL_SSL: a generated CA, client certificate and SCRAM user"),
        ] = False,
        data_dir: DataDir = None,
    ) -> None:
        """Start the broker (or cluster) in the background, once, and print the bootstrap list."""
        from fengqiao.cli import console, fail, settings

        s = settings()
        if s.uses_external_cluster:
            console.print(
                f"KAFKA_BOOTSTRAP_SERVERS is set: using {s.kafka_bootstrap_servers}, "
                "nothing started."
            )
            typer.echo(s.kafka_bootstrap_servers)
            return
        if brokers > 1 or node is not None:
            if secure:
                raise fail("--secure is for a single broker (the SASL/TLS tests use one)")
            with console.status("starting the Kafka cluster") as st:
                servers, started = localcluster.start(
                    data_dir=_cluster_dir(data_dir),
                    cache_dir=s.cache_dir,
                    version=s.kafka_version,
                    brokers=brokers if brokers > 1 else 3,
                    base_port=port,
                    partitions=s.topic_partitions,
                    progress=lambda msg: st.update(msg),
                    only=node,
                )
            what = f"nodes {', '.join(map(str, started))} started" if started else "all running"
            console.print(f"Kafka {s.kafka_version} cluster: {what}")
            typer.echo(servers)
            return
        d = _data_dir(data_dir)
        security = localsecurity.ensure(d / "security") if secure else None
        with console.status("starting Kafka") as status:
            bootstrap, started_now = localkafka.start(
                data_dir=d,
                cache_dir=s.cache_dir,
                version=s.kafka_version,
                port=port or s.kafka_port,
                heap=s.kafka_heap,
                partitions=s.topic_partitions,
                progress=lambda msg: status.update(msg),
                security=security,
            )
        console.print(
            f"Kafka {s.kafka_version} {'started' if started_now else 'already running'} "
            f"on {bootstrap}"
        )
        if security:
            env = d / "security" / "client.env"
            env.write_text("".join(f"export {k}='{v}'\n" for k, v in security.client_env().items()))
            env.chmod(0o600)
            console.print(f"SASL_SSL (SCRAM-SHA-512): the clients' settings are in {env}")
        typer.echo(bootstrap)

    @kafka.command("status")
    def status(data_dir: DataDir = None) -> None:
        """Show each node: whether it runs and answers; exit 1 when one does not."""
        cluster = _cluster_in(data_dir)
        if cluster is not None:
            bad = False
            for n in localcluster.status(cluster):
                state = (
                    "not running"
                    if n.pid is None
                    else f"running: pid {n.pid}, {'answering' if n.answering else 'NOT answering'}"
                )
                typer.echo(f"node {n.node_id}  127.0.0.1:{n.port}  {state}")
                bad = bad or not n.answering
            if bad:
                raise typer.Exit(1)
            return
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
    def stop(node: Node = None, data_dir: DataDir = None) -> None:
        """Stop the local broker, the cluster, or one of its nodes; leaves no Java process."""
        from fengqiao.cli import fail

        cluster = _cluster_in(data_dir)
        if node is not None:
            if cluster is None:
                raise fail("no cluster is set up: start one with --brokers 3")
            stopped = localcluster.stop(cluster, only=node)
            typer.echo(f"node {node} stopped" if stopped else f"node {node} was not running")
            return
        said = False
        if cluster is not None:
            stopped = localcluster.stop(cluster)
            if stopped:
                typer.echo(f"cluster stopped (nodes {', '.join(map(str, stopped))})")
                said = True
        if data_dir is None or not localcluster.is_cluster(data_dir):
            d = _data_dir(data_dir)
            if localkafka.stop(d):
                typer.echo("stopped")
                said = True
        if not said:
            typer.echo("not running")

    @kafka.command("jars")
    def jars() -> None:
        """Resolve the broker jars into the cache (done by ``start`` on first use)."""
        from fengqiao.cli import console, settings

        s = settings()
        with console.status("resolving Kafka jars") as st:
            libs = localkafka.ensure_jars(s.cache_dir, s.kafka_version, lambda m: st.update(m))
        typer.echo(str(libs))
