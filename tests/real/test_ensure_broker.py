"""``ensure_broker`` without a configured cluster: the first caller starts the local broker
in ``<home>/kafka`` and is the one that stops it; a caller that found it running leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengqiao import localkafka
from fengqiao.settings import Settings

pytestmark = pytest.mark.kafka


def test_the_starter_stops_the_broker_and_a_later_user_leaves_it_running(tmp_path: Path) -> None:
    port = localkafka.free_port()
    s = Settings(kafka_bootstrap_servers=None, home=tmp_path / "home", kafka_port=port)
    data_dir = tmp_path / "home" / "kafka"
    said: list[str] = []
    try:
        first = localkafka.ensure_broker(s, progress=said.append, partitions=3)
        assert not first.external and first.started == data_dir
        assert first.bootstrap == f"127.0.0.1:{port}"
        assert any("waiting for the broker" in m for m in said)
        assert localkafka.metadata_ready(first.bootstrap)
        # the broker's default for topics it creates itself is the caller's
        config = (data_dir / "server.properties").read_text().splitlines()
        assert "num.partitions=3" in config
        assert first.settings(s).kafka_bootstrap_servers == first.bootstrap

        pid = localkafka.running_pid(data_dir)
        second = localkafka.ensure_broker(s, progress=said.append)
        assert not second.external and second.started is None
        assert second.bootstrap == first.bootstrap
        assert second.stop() is False
        assert localkafka.running_pid(data_dir) == pid  # left running for its starter

        assert first.stop() is True
        assert localkafka.running_pid(data_dir) is None
    finally:
        localkafka.stop(data_dir)
