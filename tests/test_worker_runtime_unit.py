"""The worker process's garbage-collector setting (``FENGQIAO_WORKER_GC_THRESHOLD``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fengqiao.cli.core_cmd import configure_runtime
from fengqiao.settings import Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_default_raises_the_collector_thresholds(restore_gc: None) -> None:
    s = Settings(worker_uvloop=False)
    assert s.worker_gc_threshold == (20_000, 10, 10)
    gc.set_threshold(700, 10, 10)
    configure_runtime(s)
    assert gc.get_threshold() == (20_000, 10, 10)


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch, restore_gc: None) -> None:
    monkeypatch.setenv("FENGQIAO_WORKER_GC_THRESHOLD", "[5000, 20, 5]")
    configure_runtime(Settings(worker_uvloop=False))
    assert gc.get_threshold() == (5000, 20, 5)
