"""``ensure_broker`` with ``KAFKA_BOOTSTRAP_SERVERS`` set: the cluster is used as it is, no
local broker is started, and stopping leaves the cluster alone (no broker is contacted)."""

from __future__ import annotations

from pathlib import Path

from fengqiao import localkafka
from fengqiao.settings import Settings


def test_a_configured_cluster_is_used_and_never_started_or_stopped(tmp_path: Path) -> None:
    servers = "10.0.0.1:9092,10.0.0.2:9092"
    s = Settings(kafka_bootstrap_servers=servers, home=tmp_path / "home", topic_prefix="lw.")
    said: list[str] = []
    broker = localkafka.ensure_broker(s, progress=said.append, partitions=3)
    assert broker.external and broker.bootstrap == servers and broker.started is None
    assert said == []  # nothing started, nothing to report
    assert not (tmp_path / "home" / "kafka").exists()
    assert broker.stop() is False
    used = broker.settings(s)
    assert used.resolved_bootstrap() == servers and used.topic_prefix == "lw."
