"""``fengqiao kafka start --brokers 3``: a real three-node KRaft cluster on loopback, its
status per node, one node stopped and started alone, and nothing left behind by ``stop``;
topics made on it have replication 3 and min.insync.replicas 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from fengqiao import localcluster, localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings

pytestmark = pytest.mark.kafka


def _fq(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["FENGQIAO_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "fengqiao", "kafka", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_three_nodes_start_stop_one_and_leave_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / "kafka-cluster"
    base = localkafka.free_port()
    out = _fq(home, "start", "--brokers", "3", "--port", str(base))
    try:
        assert out.returncode == 0, out.stderr
        servers = out.stdout.strip().splitlines()[-1]
        assert servers == ",".join(f"127.0.0.1:{base + i}" for i in range(3))
        pids = {n: localcluster.pid_of(data, n) for n in (1, 2, 3)}
        assert all(pids.values()) and len(set(pids.values())) == 3  # three processes

        st = _fq(home, "status")
        assert st.returncode == 0, st.stdout + st.stderr
        assert [line.split()[:2] for line in st.stdout.splitlines()] == [
            ["node", "1"],
            ["node", "2"],
            ["node", "3"],
        ]
        assert st.stdout.count("answering") == 3 and "NOT" not in st.stdout

        s = Settings(kafka_bootstrap_servers=servers, topic_prefix="c.", topic_replication=3)
        created, _ = create_topics(s)
        assert created
        admin = KafkaAdminClient(bootstrap_servers=servers.split(","))
        try:
            meta = admin.describe_topics([created[0]])[0]
            assert {len(p["replica_nodes"]) for p in meta["partitions"]} == {3}
            res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, created[0])])
            assert res["topic"][created[0]]["min.insync.replicas"]["value"] == "2"
        finally:
            admin.close()

        down = _fq(home, "stop", "--node", "2")
        assert down.returncode == 0 and "node 2 stopped" in down.stdout
        assert localcluster.pid_of(data, 2) is None
        assert localcluster.pid_of(data, 1) == pids[1]  # the others untouched
        st = _fq(home, "status")
        assert st.returncode == 1 and "node 2  " in st.stdout and "not running" in st.stdout

        up = _fq(home, "start", "--node", "2")
        assert up.returncode == 0, up.stderr
        assert localcluster.pid_of(data, 2) not in (None, pids[2])
        assert _fq(home, "status").returncode == 0
    finally:
        stopped = _fq(home, "stop")
    assert "cluster stopped (nodes 1, 2, 3)" in stopped.stdout
    for n in (1, 2, 3):
        pid = pids.get(n) if out.returncode == 0 else None
        assert localcluster.pid_of(data, n) is None
        if pid:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
