"""The worker process's garbage-collector setting (``FENGQIAO_WORKER_GC_THRESHOLD``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

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


def test_the_worker_command_refuses_an_untested_runtime_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, restore_gc: None, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    import fengqiao.cli as cli
    from streams.runtime import versions

    monkeypatch.setattr(
        versions, "installed", lambda name: "0.16.0" if name == "faust-streaming" else None
    )
    monkeypatch.setattr(cli, "_settings", Settings(worker_uvloop=False, home=tmp_path))
    result = CliRunner().invoke(cli.app, ["worker"])
    assert result.exit_code == 2
    assert "refuses to start" in result.output and "faust-streaming 0.16.0" in result.output
    assert "Traceback" not in result.output
