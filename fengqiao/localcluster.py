"""A real multi-node Apache Kafka (KRaft) cluster on loopback: one combined controller+broker
process per node, a static three-voter quorum, replication 3 and ``min.insync.replicas=2``.

The cluster's data directory holds ``cluster.json`` (its id and every node's ports, fixed at
the first start so a node restarted alone comes back where the others expect it) and one
directory per node, each run like the single broker of :mod:`fengqiao.localkafka`.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from fengqiao import localkafka
from fengqiao.localkafka import BrokerPaths, KafkaSetupError, NodeSpec

CLUSTER_FILE = "cluster.json"


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    port: int
    pid: int | None
    answering: bool


def is_cluster(data_dir: Path) -> bool:
    return (data_dir / CLUSTER_FILE).exists()


def node_dir(data_dir: Path, node_id: int) -> Path:
    return data_dir.resolve() / f"node-{node_id}"


def _load(data_dir: Path) -> dict[str, object]:
    try:
        return dict(json.loads((data_dir / CLUSTER_FILE).read_text()))
    except (OSError, ValueError) as err:
        raise KafkaSetupError(f"no cluster in {data_dir}: start one with --brokers 3") from err


def specs(data_dir: Path) -> list[NodeSpec]:
    raw = _load(data_dir)
    nodes = raw["nodes"]
    assert isinstance(nodes, list)
    return [NodeSpec(**n) for n in nodes]


def bootstrap(data_dir: Path) -> str:
    return ",".join(f"127.0.0.1:{n.port}" for n in specs(data_dir))


def _plan(data_dir: Path, brokers: int, base_port: int | None, partitions: int) -> dict:
    """Ports and cluster id, chosen once: base_port, base_port+1, … for clients (or free
    ports), free ports for the controllers."""
    ports = (
        [base_port + i for i in range(brokers)]
        if base_port
        else [localkafka.free_port() for _ in range(brokers)]
    )
    for port in ports:
        if not localkafka._port_free(port):
            raise KafkaSetupError(
                f"port {port} is already in use: pick another base with --port, or stop what "
                "uses it"
            )
    controllers = [localkafka.free_port() for _ in range(brokers)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, c in enumerate(controllers))
    rf = min(3, brokers)
    nodes = [
        asdict(NodeSpec(i + 1, ports[i], controllers[i], voters, partitions, rf))
        for i in range(brokers)
    ]
    return {"cluster_id": localkafka.new_cluster_id(), "nodes": nodes}


def start(
    *,
    data_dir: Path,
    cache_dir: Path,
    version: str,
    brokers: int = 3,
    base_port: int | None = None,
    heap: str = "384m",
    partitions: int = 4,
    timeout_s: float = 120.0,
    progress: Callable[[str], None] | None = None,
    only: int | None = None,
) -> tuple[str, list[int]]:
    """Start every node that is not running (or only node ``only``); returns the bootstrap
    list and the ids of the nodes started now. Nodes start together: a KRaft quorum elects
    its leader only once a majority of voters is up."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with localkafka._locked(data_dir / ".start.lock"):
        if not is_cluster(data_dir):
            if only is not None:
                raise KafkaSetupError(f"no cluster in {data_dir}: start it with --brokers 3")
            plan = _plan(data_dir, brokers, base_port, partitions)
            (data_dir / CLUSTER_FILE).write_text(json.dumps(plan, indent=2))
        cluster_id = str(_load(data_dir)["cluster_id"])
        nodes = specs(data_dir)
        if only is not None and only not in {n.node_id for n in nodes}:
            raise KafkaSetupError(f"no node {only}: the cluster has nodes 1 to {len(nodes)}")
        localkafka.check_tools(need_maven=False)
        libs = localkafka.ensure_jars(cache_dir, version, progress)
        procs = {}
        for spec in nodes:
            if only is not None and spec.node_id != only:
                continue
            paths = BrokerPaths(node_dir(data_dir, spec.node_id))
            if localkafka.running_pid(paths.data_dir) is not None:
                continue
            localkafka._write_config(paths, spec)
            base = localkafka._java(paths, libs, heap)
            localkafka.format_storage(paths, base, cluster_id, standalone=False)
            procs[paths] = localkafka.launch(paths, base, spec.port)
        servers = ",".join(f"127.0.0.1:{n.port}" for n in nodes)
        if procs:
            if progress:
                progress(f"waiting for {len(nodes)} brokers on {servers}")
            started_ports = [p.port_file.read_text().strip() for p in procs]
            # each node started now must answer itself, and the cluster must count them all
            localkafka.wait_answering(
                procs, f"127.0.0.1:{started_ports[0]}", timeout_s, brokers=len(nodes)
            )
        started = [int(p.data_dir.name.split("-")[1]) for p in procs]
        return servers, sorted(started)


def stop(data_dir: Path, only: int | None = None, sig: int = signal.SIGTERM) -> list[int]:
    """Stop every node (or only ``only``); returns the ids of the nodes that were running.

    All nodes are signalled at once: stopped one after another, the last two would each wait
    out their controlled shutdown (30 s) for a quorum that is already gone."""
    chosen = [n.node_id for n in specs(data_dir) if only is None or n.node_id == only]
    stopped: list[int] = []

    def one(node_id: int) -> None:
        if localkafka.stop(node_dir(data_dir, node_id), sig=sig):
            stopped.append(node_id)

    threads = [threading.Thread(target=one, args=(n,)) for n in chosen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(stopped)


def status(data_dir: Path) -> list[NodeStatus]:
    out = []
    for spec in specs(data_dir):
        pid = localkafka.running_pid(node_dir(data_dir, spec.node_id))
        answering = pid is not None and localkafka.metadata_ready(f"127.0.0.1:{spec.port}")
        out.append(NodeStatus(spec.node_id, spec.port, pid, answering))
    return out


def pid_of(data_dir: Path, node_id: int) -> int | None:
    return localkafka.running_pid(node_dir(data_dir, node_id))
