"""The garbage-collector settings of the worker, the sink and the replay
(``FENGQIAO_WORKER_GC_THRESHOLD``, ``FENGQIAO_SINK_GC_THRESHOLD``,
``FENGQIAO_REPLAY_GC_THRESHOLD``), and the worker command's refusal of an untested runtime."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from fengqiao.cli.core_cmd import configure_runtime
from fengqiao.settings import Settings
from fengqiao.wiring import configure_sink_runtime


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


def test_the_sink_default_raises_the_collector_thresholds(restore_gc: None) -> None:
    s = Settings()
    assert s.sink_gc_threshold == (20_000, 10, 10)
    gc.set_threshold(700, 10, 10)
    configure_sink_runtime(s)
    assert gc.get_threshold() == (20_000, 10, 10)


def test_the_sinks_thresholds_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, restore_gc: None
) -> None:
    monkeypatch.setenv("FENGQIAO_SINK_GC_THRESHOLD", "[700, 10, 10]")
    configure_sink_runtime(Settings())
    assert gc.get_threshold() == (700, 10, 10)


def test_the_sink_command_sets_them_before_its_store_opens(
    monkeypatch: pytest.MonkeyPatch, restore_gc: None
) -> None:
    from typer.testing import CliRunner

    import fengqiao.cli as cli
    from consumers.db import SqlStore

    seen: list[tuple[int, ...]] = []

    class Opened(Exception):
        pass

    def open_(url: str, migrate: bool = True) -> SqlStore:
        seen.append(gc.get_threshold())
        raise Opened

    gc.set_threshold(700, 10, 10)
    monkeypatch.setattr(SqlStore, "open", staticmethod(open_))
    monkeypatch.setattr(cli, "_settings", Settings(sink_gc_threshold=(12_345, 10, 10)))
    result = CliRunner().invoke(cli.app, ["sink"])
    assert isinstance(result.exception, Opened)
    assert seen == [(12_345, 10, 10)]


def test_replay_sets_its_own_before_reading(
    monkeypatch: pytest.MonkeyPatch, restore_gc: None
) -> None:
    from typer.testing import CliRunner

    import fengqiao.cli as cli
    import fengqiao.replay as replay

    seen: list[tuple[int, ...]] = []

    def no_history(*args: object, **kwargs: object) -> list[object]:
        seen.append(gc.get_threshold())
        return []

    gc.set_threshold(700, 10, 10)
    monkeypatch.setattr(replay, "intake_cases", no_history)
    monkeypatch.setattr(cli, "_settings", Settings(replay_gc_threshold=(23_456, 10, 10)))
    result = CliRunner().invoke(cli.app, ["replay", "--ruleset", str(_packaged_ruleset())])
    assert seen == [(23_456, 10, 10)], result.output
    assert Settings().replay_gc_threshold == (20_000, 10, 10)


def _packaged_ruleset() -> object:
    from importlib.resources import files

    return files("streams.data") / "ruleset.json"
