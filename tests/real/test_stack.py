"""`fengqiao up` as a user runs it: cases flow within a minute, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fengqiao import localkafka

pytestmark = pytest.mark.kafka


def _procs_mentioning(marker: str) -> list[str]:
    """Processes whose command line or environment mentions ``marker`` (our FENGQIAO_HOME)."""
    found = []
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        try:
            blob = (pid_dir / "cmdline").read_bytes() + (pid_dir / "environ").read_bytes()
            if (pid_dir / "stat").read_text().split(")")[-1].split()[0] == "Z":
                continue
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(f"{pid_dir.name}: {blob[:200]!r}")
    return found


def test_up_shows_cases_flowing_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "fq-home"
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        FENGQIAO_HOME=str(home),
        FENGQIAO_KAFKA_PORT=str(localkafka.free_port()),
        FENGQIAO_WORKER_WEB_PORT=str(localkafka.free_port()),
        FENGQIAO_API_PORT=str(localkafka.free_port()),
        FENGQIAO_GATEWAY_PORT=str(localkafka.free_port()),
        FENGQIAO_METRICS_PORT=str(localkafka.free_port()),
        FENGQIAO_WORKBENCH_PORT=str(workbench_port := localkafka.free_port()),
    )
    log = tmp_path / "up.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fengqiao", "up", "--speed", "200000"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        routed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            counts = re.findall(r"cases routed: (\d+)", log.read_text(errors="replace"))
            routed = max([int(c) for c in counts] or [0])
            if routed > 0:
                break
            time.sleep(1)
        assert routed > 0, log.read_text(errors="replace")[-3000:]
        assert _procs_mentioning(str(home)), "the broker should be running under the test home"
        # The workbench runs, and the demo login is printed with its first password.
        out = log.read_text(errors="replace")
        login = re.search(r"demo login: (demo-yongzhong-street) / (\w+) \(you choose", out)
        assert login, out[-3000:]
        assert f"http://127.0.0.1:{workbench_port}/" in out
        health = httpx.get(f"http://127.0.0.1:{workbench_port}/healthz", timeout=10)
        assert health.json() == {"status": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            broker = localkafka.running_pid(home / "kafka")  # in a session of its own
            if broker is not None:
                os.kill(broker, signal.SIGKILL)
            raise
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "stopping worker" in text and "stopping Kafka" in text
    time.sleep(1)
    assert _procs_mentioning(str(home)) == []
    assert localkafka.running_pid(home / "kafka") is None
