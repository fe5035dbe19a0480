"""The project's own launcher for a real single-node Apache Kafka (KRaft) on loopback.

The broker jars come from Maven Central (``org.apache.kafka:kafka_2.13``), resolved once with
Maven into a cache outside the repository, and the broker runs with ``java -cp``. One data
directory holds one broker: its pid file makes ``start`` idempotent and ``stop`` exact.
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

from schemas.errors import FengqiaoError

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


def metadata_ready(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a Kafka client can fetch cluster metadata from ``bootstrap``."""
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
        )
    except Exception:
        return False
    try:
        admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def _write_config(paths: BrokerPaths, port: int, controller_port: int, partitions: int) -> None:
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={paths.log_dir}",
                f"num.partitions={partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.check.interval.ms=60000",
                "",
            ]
        )
    )
    paths.log4j.write_text(LOG4J2.format(log=paths.data_dir / "broker.log"))


def new_cluster_id() -> str:
    """A KRaft cluster id (base64url of a random UUID) that does not start with ``-``: the
    storage tool's argument parser would take such an id for an option (1 start in 64 failed
    with its usage text). Kafka's own ``Uuid.randomUuid`` avoids it the same way."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


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
) -> tuple[str, bool]:
    """Start the broker unless it already runs; returns (bootstrap address, started_now)."""
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
        controller_port = controller_port or free_port()
        _write_config(paths, port, controller_port, partitions)
        classpath = f"{libs}/*"
        java = shutil.which("java") or "java"
        base = [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={paths.log4j}",
            "-cp",
            classpath,
        ]
        if not (paths.log_dir / "meta.properties").exists():
            if progress:
                progress("formatting KRaft storage")
            cluster_id = new_cluster_id()
            fmt = subprocess.run(
                [
                    *base,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    str(paths.config),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise KafkaSetupError(
                    "formatting Kafka storage failed:\n" + fmt.stdout + fmt.stderr
                )
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
        bootstrap = f"127.0.0.1:{port}"
        if progress:
            progress(f"waiting for the broker on {bootstrap}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                paths.pid_file.unlink(missing_ok=True)
                tail = paths.output.read_text(errors="replace")[-3000:]
                raise KafkaSetupError(f"the broker exited with status {proc.returncode}:\n{tail}")
            if metadata_ready(bootstrap):
                return bootstrap, True
            time.sleep(0.5)
        stop(data_dir)
        raise KafkaSetupError(f"the broker did not answer on {bootstrap} within {timeout_s:.0f}s")


def stop(data_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop the broker of this data dir; True when one was running."""
    paths = BrokerPaths(data_dir.resolve())
    pid = running_pid(data_dir)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
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
