"""The stalled-recovery watch: which changelog partitions recovery still waits on, then the
check on a real (never started) faust app and its own Recovery service, so a faust without
the private names it reads fails here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import TP

from streams.runtime import recovering
from streams.runtime.stalls import StallWatch


def test_recovery_waits_on_the_partitions_not_read_up_to_what_it_needs() -> None:
    a, b, c, d, e = (TP("incidents-changelog", n) for n in range(5))
    read = {a: -1, b: 180, c: 181, d: -1, e: None}
    needed = {a: 181, b: 181, c: 181, d: -1, e: 10}
    # a: nothing read yet; b: one short; c: done; d: was empty; e: no offset known yet
    assert recovering.waiting(read, needed) == {a: (-1, 181), b: (180, 181)}


def _app(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[TP, int]]]:
    import faust

    from streams.runtime import patches

    patches.apply()
    app = faust.App("recovering-unit", broker="kafka://127.0.0.1:1", store="memory://")
    sought: list[dict[TP, int]] = []

    async def seek_wait(partitions: dict[TP, int]) -> None:
        sought.append(dict(partitions))

    monkeypatch.setattr(app.consumer, "seek_wait", seek_wait)
    return app, sought


def test_a_changelog_partition_recovery_reads_nothing_of_is_fetched_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, sought = _app(monkeypatch)
    stuck, moving, done = (TP("incidents-changelog", n) for n in (2, 0, 1))
    recovery = app.tables.recovery
    recovery.active_highwaters.update({stuck: 181, moving: 900, done: 40})
    recovery.active_offsets.update({stuck: -1, moving: 100, done: 40})
    consumer = app.consumer
    consumer.pause_partitions({stuck})
    app.in_recovery = True
    watch = StallWatch(recovering.RECOVERY_STALL_S)

    def check(now: float) -> list[TP]:
        recovery.active_offsets[moving] += 10  # read on at every look: never sought
        return asyncio.run(recovering.check(app, watch, now))

    assert check(0) == []
    assert check(10) == []
    assert check(20) == [stuck]
    assert sought == [{stuck: 0}]  # nothing read: from the start
    assert stuck in consumer._get_active_partitions()
    assert stuck not in consumer._paused_partitions
    # sought again only after another stall time of nothing; a read moves it on
    assert check(30) == []
    recovery.active_offsets[stuck] = 57
    assert check(40) == []
    assert check(55) == []
    assert check(60) == [stuck]
    assert sought[-1] == {stuck: 58}  # from the first offset not read


def test_nothing_is_sought_when_the_tables_are_not_recovering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, sought = _app(monkeypatch)
    tp = TP("risk-changelog", 0)
    app.tables.recovery.active_highwaters[tp] = 50
    app.tables.recovery.active_offsets[tp] = -1
    watch = StallWatch(recovering.RECOVERY_STALL_S)
    app.in_recovery = True
    assert asyncio.run(recovering.check(app, watch, now=0)) == []
    app.in_recovery = False
    assert asyncio.run(recovering.check(app, watch, now=30)) == []
    app.in_recovery = True  # a new recovery: the watch starts over
    assert asyncio.run(recovering.check(app, watch, now=31)) == []
    assert sought == []
    assert asyncio.run(recovering.check(app, watch, now=51)) == [tp]


def test_the_worker_checks_table_recovery_on_a_timer() -> None:
    from streams.app import create_app
    from streams.config import WorkerConfig

    app, _ctx = create_app(WorkerConfig(app_id="recovering-timer"))
    names = [getattr(t, "__qualname__", "") for t in app._app_tasks]
    assert "create_app.<locals>._stalled_recovery" in names
