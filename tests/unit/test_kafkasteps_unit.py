"""kafka-python's loop warns of a step that stalls it for a second, not of a full fetch parsed."""

from __future__ import annotations

import logging
import sys
import time

import pytest
from kafka.net.selector import NetworkSelector

from fengqiao import kafkasteps
from fengqiao.cli import main

KEY = "slow_task_threshold_secs"
WARNED = "ran for"  # kafka-python's slow-step warning, "Task … ran for 0.302s (>0.100s …"


@pytest.fixture(autouse=True)
def library_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from kafka-python's own default and leaves it behind it."""
    monkeypatch.setitem(NetworkSelector.DEFAULT_CONFIG, KEY, 0.1)


async def _busy(seconds: float) -> float:
    time.sleep(seconds)  # one step that holds the loop, as parsing a 4 MiB fetch does
    return seconds


def _step(seconds: float, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the loop of a selector made now logs for one step of ``seconds``."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kafka.net.selector"):
        assert NetworkSelector().run(_busy, seconds) == seconds
    return [r.getMessage() for r in caplog.records if WARNED in r.getMessage()]


def test_a_step_of_a_full_fetch_warns_under_the_library_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the control: what `fengqiao replay` printed every few seconds
    assert _step(0.3, caplog)


def test_installed_a_step_under_a_second_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    assert kafkasteps.install() == kafkasteps.SLOW_STEP_S == 1.0
    assert _step(0.3, caplog) == []


def test_installed_a_longer_step_still_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert kafkasteps.install(0.2) == 0.2
    assert _step(0.35, caplog)


def test_never_lowers_a_threshold_nor_turns_an_off_check_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(NetworkSelector.DEFAULT_CONFIG, KEY, 5.0)
    assert kafkasteps.install() == 5.0
    monkeypatch.setitem(NetworkSelector.DEFAULT_CONFIG, KEY, 0)
    assert kafkasteps.install() == 0.0
    assert NetworkSelector.DEFAULT_CONFIG[KEY] == 0


def test_every_command_runs_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("kafka", "aiokafka", "faust", "mode", "alembic"):  # main sets their levels
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(sys, "argv", ["fengqiao", "--help"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    assert NetworkSelector.DEFAULT_CONFIG[KEY] == kafkasteps.SLOW_STEP_S
