"""How long the local broker has been running: the bench warms up a broker still fresh."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from fengqiao.localkafka import BrokerInUse, running_for_s


def test_a_process_just_started_is_fresh_and_ages_with_the_clock(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "broker.pid").write_text(str(proc.pid))
        first = running_for_s(tmp_path)
        assert first is not None and 0 <= first < 5
        time.sleep(1.2)
        later = running_for_s(tmp_path)
        assert later is not None and later >= first + 1.0
        broker = BrokerInUse("127.0.0.1:9092", external=False, data_dir=tmp_path)
        assert broker.fresh(below_s=60)
        assert not broker.fresh(below_s=1.0)
    finally:
        proc.kill()
        proc.wait()
    # no broker running there any more: no age, and not fresh
    assert running_for_s(tmp_path) is None
    assert not BrokerInUse("127.0.0.1:9092", external=False, data_dir=tmp_path).fresh()


def test_a_cluster_is_never_fresh() -> None:
    assert not BrokerInUse("kafka-0:9092,kafka-1:9092", external=True).fresh()
