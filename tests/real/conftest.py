"""Fixtures of the real tier's simulated-year tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, replay_grace_hours


@pytest.fixture
def replay_worker(kafka_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A worker for a year published in seconds onto the wall clock: without a grace that
    reaches back past 2022 every claim is late, and the incidents the reports check are dropped."""
    proc = WorkerProcess(
        kafka_settings,
        tmp_path / "worker.log",
        extra_env={"FENGQIAO_INCIDENT_GRACE_HOURS": replay_grace_hours()},
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
