"""The project's own launcher for a real single-node Apache Kafka (KRaft) on loopback.

The broker jars come from Maven Central (``org.apache.kafka:kafka_2.13``), resolved once with
Maven into a cache outside the repository, and the broker runs with ``java -cp``. One data
directory holds one broker: its pid file makes ``start`` idempotent and ``stop`` exact.
``ensure_broker`` is the commands' one way to a broker: the configured cluster, else this one.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fengqiao.localsecurity import LocalSecurity
from schemas.errors import FengqiaoError

if TYPE_CHECKING:
    from rich.console import Console

    from fengqiao.settings import Settings

POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fengqiao</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.server.name = org.apache.kafka
logger.server.level = WARN
"""


class KafkaSetupError(FengqiaoError):
    """The local broker cannot be set up or started; the message says what to do."""


@dataclass(frozen=True)
class BrokerPaths:
    data_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def port_file(self) -> Path:
        return self.data_dir / "broker.port"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def output(self) -> Path:
        return self.data_dir / "broker.out"


def check_tools(need_maven: bool) -> None:
    missing = [t for t in (["java", "mvn"] if need_maven else ["java"]) if not shutil.which(t)]
    if missing:
        raise KafkaSetupError(
            f"{' and '.join(missing)} not found: install OpenJDK 17+ and Maven "
            "(Debian: apt-get install openjdk-17-jre-headless maven), or set "
            "KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster."
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def jars_dir(cache_dir: Path, version: str) -> Path:
    return cache_dir / version / "libs"


def ensure_jars(
    cache_dir: Path, version: str, progress: Callable[[str], None] | None = None
) -> Path:
    """Resolve the broker jars into the cache once; later calls return at once."""
    libs = jars_dir(cache_dir, version)
    done = libs.parent / ".complete"
    if done.exists():
        return libs
    check_tools(need_maven=True)
    with _locked(cache_dir / f".{version}.lock"):
        if done.exists():
            return libs
        work = libs.parent
        work.mkdir(parents=True, exist_ok=True)
        if libs.exists():
            shutil.rmtree(libs)
        (work / "pom.xml").write_text(POM_TEMPLATE.format(version=version))
        cmd = [
            "mvn",
            "-B",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work
        )
        assert proc.stdout is not None
        tail: list[str] = []
        downloaded = 0
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-30:]
            if "Downloaded from" in line:
                downloaded += 1
                if progress:
                    name = line.split(": ", 1)[-1].rsplit("/", 1)[-1].split(" ")[0]
                    progress(f"resolving Kafka {version} jars: {downloaded} files, last {name}")
        if proc.wait() != 0:
            raise KafkaSetupError(
                "Maven could not resolve org.apache.kafka:kafka_2.13:"
                f"{version}; last output:\n" + "\n".join(tail)
            )
        done.write_text(str(len(list(libs.glob("*.jar")))))
    return libs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def running_pid(data_dir: Path) -> int | None:
    paths = BrokerPaths(data_dir)
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def running_for_s(data_dir: Path) -> float | None:
    """How long the local broker of ``data_dir`` has been running (from ``/proc``); ``None``
    when none runs or ``/proc`` cannot say."""
    pid = running_pid(data_dir)
    if pid is None:
        return None
    try:
        # the fields after the command's closing parenthesis start at the 3rd: the 22nd,
        # the start time in clock ticks after boot, is the 20th of these
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        up = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(up - started, 0.0)


def running_port(data_dir: Path) -> int | None:
    if running_pid(data_dir) is None:
        return None
    try:
        return int(BrokerPaths(data_dir).port_file.read_text().strip())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def metadata_ready(
    bootstrap: str,
    timeout_s: float = 2.0,
    client_config: dict[str, object] | None = None,
    brokers: int = 1,
) -> bool:
    """True when a Kafka client can fetch cluster metadata from ``bootstrap`` and the cluster
    has at least ``brokers`` brokers registered."""
    from kafka import KafkaAdminClient  # local: keep import cost off the CLI's start

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # cheap check first: kafka-python's own retries would back off for seconds
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="fengqiao-probe",
            **(client_config or {}),
        )
    except Exception:
        return False
    try:
        return len(admin.describe_cluster().get("brokers", [])) >= brokers
    except Exception:
        return False
    finally:
        admin.close()


@dataclass(frozen=True)
class NodeSpec:
    """One KRaft node: its id, client port and controller port, and the quorum it is in."""

    node_id: int
    port: int
    controller_port: int
    voters: str | None = None  # "1@host:port,2@…" for a static multi-node quorum
    partitions: int = 4
    replication: int = 1


def _write_config(
    paths: BrokerPaths, spec: NodeSpec, security: LocalSecurity | None = None
) -> None:
    """server.properties for a combined controller+broker node (the simplest KRaft layout:
    one process per node). A cluster of three gets replication 3 and min.insync.replicas 2
    for every topic it makes itself (offsets, transactions, auto-created), so acks=all
    survives one node down."""
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    listener = "SASL_SSL" if security else "PLAINTEXT"
    rf = spec.replication
    min_isr = max(1, rf - 1)
    quorum = (
        f"controller.quorum.voters={spec.voters}"
        if spec.voters
        else f"controller.quorum.bootstrap.servers=127.0.0.1:{spec.controller_port}"
    )
    lines = [
        "process.roles=broker,controller",
        f"node.id={spec.node_id}",
        quorum,
        f"listeners={listener}://127.0.0.1:{spec.port},CONTROLLER://127.0.0.1:{spec.controller_port}",
        f"advertised.listeners={listener}://127.0.0.1:{spec.port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
        f"log.dirs={paths.log_dir}",
        f"num.partitions={spec.partitions}",
        f"default.replication.factor={rf}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={rf}",
        "offsets.topic.num.partitions=8",
        f"transaction.state.log.replication.factor={rf}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={rf}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.check.interval.ms=60000",
        # a stopped node's partitions move to the others within seconds, not the default 18 s
        "broker.session.timeout.ms=6000",
        "broker.heartbeat.interval.ms=1000",
        *(security.broker_properties(listener) if security else []),
        "",
    ]
    paths.config.write_text("\n".join(lines))
    paths.log4j.write_text(LOG4J2.format(log=paths.data_dir / "broker.log"))


def _java(paths: BrokerPaths, libs: Path, heap: str) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # C1 only: starts faster, and three JVMs share two cores
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        f"{libs}/*",
    ]


def format_storage(
    paths: BrokerPaths,
    base: list[str],
    cluster_id: str,
    standalone: bool,
    security: LocalSecurity | None = None,
) -> None:
    """Format the node's KRaft storage once (a formatted node keeps its data on restart)."""
    if (paths.log_dir / "meta.properties").exists():
        return
    cmd = [*base, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(paths.config)]
    if standalone:
        cmd.append("--standalone")
    if security:
        cmd += security.scram_format_args()
    fmt = subprocess.run([*cmd, "--ignore-formatted"], capture_output=True, text=True)
    if fmt.returncode != 0:
        raise KafkaSetupError("formatting Kafka storage failed:\n" + fmt.stdout + fmt.stderr)


def launch(paths: BrokerPaths, base: list[str], port: int) -> subprocess.Popen[bytes]:
    """Start the node's JVM in its own session and record its pid and port."""
    out = paths.output.open("ab")
    proc = subprocess.Popen(
        [*base, "kafka.Kafka", str(paths.config)],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    paths.pid_file.write_text(str(proc.pid))
    paths.port_file.write_text(str(port))
    return proc


def wait_answering(
    procs: dict[BrokerPaths, subprocess.Popen[bytes]],
    bootstrap: str,
    timeout_s: float,
    client_config: dict[str, object] | None = None,
    brokers: int = 1,
) -> None:
    """Wait until the cluster answers with ``brokers`` brokers; stop the nodes on failure."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for paths, proc in procs.items():
            if proc.poll() is not None:
                paths.pid_file.unlink(missing_ok=True)
                tail = paths.output.read_text(errors="replace")[-3000:]
                for other in procs:
                    stop(other.data_dir)
                raise KafkaSetupError(
                    f"the broker in {paths.data_dir} exited with status {proc.returncode}:\n{tail}"
                )
        if metadata_ready(bootstrap, client_config=client_config, brokers=brokers):
            return
        time.sleep(0.5)
    for paths in procs:
        stop(paths.data_dir)
    raise KafkaSetupError(f"the broker did not answer on {bootstrap} within {timeout_s:.0f}s")


def start(
    *,
    data_dir: Path,
    cache_dir: Path,
    version: str,
    port: int | None = None,
    controller_port: int | None = None,
    heap: str = "512m",
    partitions: int = 4,
    timeout_s: float = 90.0,
    progress: Callable[[str], None] | None = None,
    security: LocalSecurity | None = None,
) -> tuple[str, bool]:
    """Start the broker unless it already runs; returns (bootstrap address, started_now).

    With ``security`` its one listener is SASL_SSL (SCRAM-SHA-512, client certificate
    required) and the SCRAM user is created when the storage is formatted."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = BrokerPaths(data_dir)
    with _locked(data_dir / ".start.lock"):
        existing = running_port(data_dir)
        if existing is not None:
            return f"127.0.0.1:{existing}", False
        check_tools(need_maven=False)
        libs = ensure_jars(cache_dir, version, progress)
        port = port or 9092
        if not _port_free(port):
            raise KafkaSetupError(
                f"port {port} is already in use: pick another with --port, or stop what uses it"
            )
        spec = NodeSpec(1, port, controller_port or free_port(), partitions=partitions)
        _write_config(paths, spec, security)
        base = _java(paths, libs, heap)
        if progress:
            progress("formatting KRaft storage")
        format_storage(paths, base, new_cluster_id(), standalone=True, security=security)
        proc = launch(paths, base, port)
        bootstrap = f"127.0.0.1:{port}"
        if progress:
            progress(f"waiting for the broker on {bootstrap}")
        wait_answering({paths: proc}, bootstrap, timeout_s, security_client_config(security))
        return bootstrap, True


# a broker younger than this is still slow: its JVM compiles for its first minutes of traffic
FRESH_BROKER_S = 180.0


@dataclass(frozen=True)
class BrokerInUse:
    """The Kafka a command runs against: the configured cluster, or the local broker."""

    bootstrap: str
    external: bool  # KAFKA_BOOTSTRAP_SERVERS was set
    # the data directory of the local broker when this command started it (and so stops it);
    # None for a cluster, or a local broker that was already running (left running)
    started: Path | None = None
    # the local broker's data directory (None for a cluster)
    data_dir: Path | None = None

    def fresh(self, below_s: float = FRESH_BROKER_S) -> bool:
        """Whether this is a local broker started less than ``below_s`` ago (by this command,
        ``fengqiao kafka start`` or another); a cluster never counts as fresh."""
        if self.data_dir is None:
            return False
        age = running_for_s(self.data_dir)
        return age is not None and age < below_s

    def settings(self, settings: Settings) -> Settings:
        """``settings`` with this broker's address, for the clients and child processes."""
        return settings.model_copy(update={"kafka_bootstrap_servers": self.bootstrap})

    def stop(self) -> bool:
        """Stop the local broker if this command started it; True when it did."""
        return self.started is not None and stop(self.started)


def ensure_broker(
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    console: Console | None = None,
    partitions: int | None = None,
) -> BrokerInUse:
    """Use ``KAFKA_BOOTSTRAP_SERVERS`` if set, else the local broker in ``<home>/kafka``,
    started if it is not running. While it starts, its progress goes to a "starting Kafka"
    spinner on ``console`` if given, else to ``progress``. ``partitions``: the broker's
    default for topics it creates itself (the launcher's default when not given)."""
    if settings.uses_external_cluster:
        return BrokerInUse(settings.resolved_bootstrap(), external=True)
    data_dir = settings.home / "kafka"
    extra: dict[str, Any] = {} if partitions is None else {"partitions": partitions}
    with console.status("starting Kafka") if console else contextlib.nullcontext() as status:
        bootstrap, started = start(
            data_dir=data_dir,
            cache_dir=settings.cache_dir,
            version=settings.kafka_version,
            port=settings.kafka_port,
            heap=settings.kafka_heap,
            progress=status.update if status is not None else progress,
            **extra,
        )
    return BrokerInUse(
        bootstrap, external=False, started=data_dir if started else None, data_dir=data_dir
    )


def security_client_config(security: LocalSecurity | None) -> dict[str, object] | None:
    """kafka-python options for the launcher's own probes of a secure broker."""
    if security is None:
        return None
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": security.username,
        "sasl_plain_password": security.password,
        "ssl_cafile": str(security.ca_file),
        "ssl_certfile": str(security.client_cert),
        "ssl_keyfile": str(security.client_key),
    }


def stop(data_dir: Path, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the broker of this data dir; True when one was running. ``SIGKILL`` kills it
    without a controlled shutdown (the fault tests' hard kill)."""
    paths = BrokerPaths(data_dir.resolve())
    pid = running_pid(data_dir)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it was our own child
    paths.pid_file.unlink(missing_ok=True)
    return True


def new_cluster_id() -> str:
    """A KRaft cluster id (base64url of a random UUID) that does not start with ``-``: the
    storage tool's argument parser would take such an id for an option (1 start in 64 failed
    with its usage text). Kafka's own ``Uuid.randomUuid`` avoids it the same way."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
