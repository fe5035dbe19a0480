"""Test helpers for the real tier: run worker processes and read topics back from Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from fengqiao.settings import Settings


def settings_env(s: Settings) -> dict[str, str]:
    """The environment that makes a child process see the same settings."""
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": s.resolved_bootstrap(),
            "FENGQIAO_TOPIC_PREFIX": s.topic_prefix,
            "FENGQIAO_APP_ID": s.app_id,
            "FENGQIAO_HOME": str(s.home),
            "FENGQIAO_WORKER_WEB_PORT": str(s.worker_web_port),
            "FENGQIAO_TOPIC_PARTITIONS": str(s.topic_partitions),
            "FENGQIAO_CLOCK": s.clock,
        }
    )
    if s.database_url:
        env["FENGQIAO_DATABASE_URL"] = s.database_url
    return env


class WorkerProcess:
    """``python -m fengqiao worker`` as a child process."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        env = settings_env(self.settings) | self.extra_env
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fengqiao", "worker", "--loglevel", "INFO"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout_s)

    def stats(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.settings.worker_web_port}/stats"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return dict(json.loads(resp.read()))

    def wait_ready(self, timeout_s: float) -> None:
        """Ready when its web port answers and its consumer has been assigned partitions."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            try:
                if self.stats().get("assigned", 0) > 0:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready in {timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        failing = sys.exc_info()[1]
        if failing is not None and not isinstance(failing, KeyboardInterrupt):
            # stopped because the test failed: first have the worker log its stacks and queues
            # (its SIGUSR1 handler), for the report's worker log section (conftest)
            self.dump_tasks()
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def dump_tasks(self, wait_s: float = 2.0) -> None:
        """Have the worker write its stacks, consumer and producer state to its log."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGUSR1)
        except ProcessLookupError:
            return
        time.sleep(wait_s)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def from_start(settings: Settings, topic: str, **extra: Any) -> KafkaConsumer:
    """A consumer of ``topic`` from its first offset, in no group (nothing committed);
    ``extra`` goes to kafka-python (a read timeout, security settings)."""
    return KafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **extra,
    )


def _read(
    settings: Settings,
    topic: str,
    done: Callable[[list[dict[str, Any]], bool], bool],
    poll_ms: int,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Decode JSON values from the start of ``topic`` until ``done(messages, poll_was_empty)``."""
    consumer = from_start(settings, topic)
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            before = len(out)
            for msgs in consumer.poll(timeout_ms=poll_ms).values():
                out.extend(json.loads(m.value) for m in msgs)
            if done(out, len(out) == before):
                return out
        return out
    finally:
        consumer.close()


def read_topic(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Read a topic from the beginning, decoding JSON values, until ``until(messages)``."""
    return _read(settings, topic, lambda out, _empty: until(out), 500, timeout_s)


def drain_topic(
    settings: Settings, topic: str, quiet_s: float = 3.0, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Everything on a topic once nothing new has arrived for ``quiet_s`` seconds."""
    return _read(settings, topic, lambda _out, empty: empty, int(quiet_s * 1000), timeout_s)


def replay_grace_hours() -> str:
    """An incident grace that reaches back past 2022: the year is published in seconds onto a
    worker on the wall clock, so every claim is years late, and the default day of grace would
    (rightly) drop them all. The paced test below keeps the default grace on the stream clock."""
    from datetime import UTC, datetime

    age = datetime.now(UTC) - datetime(2022, 1, 1, tzinfo=UTC)
    return str(int(age.total_seconds() // 3600) + 24 * 60)
