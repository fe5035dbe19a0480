"""The stalled-partition watch: the rule on its own, then on a real (never started) faust
consumer, so a faust without the private names it reads fails here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import TP

from streams.runtime import stalls
from streams.runtime.stalls import StallWatch, resume_from


def test_a_partition_stands_after_its_mark_stayed_the_same_for_the_stall_time() -> None:
    w = StallWatch(stall_s=10)
    assert w.standing({"p0": (1,), "p1": (1,)}, now=0) == []
    assert w.standing({"p0": (1,), "p1": (2,)}, now=9) == []  # p1 moved at 9
    assert w.standing({"p0": (1,), "p1": (2,)}, now=10) == ["p0"]
    assert w.standing({"p0": (1,), "p1": (2,)}, now=19) == ["p0", "p1"]
    w.restart("p0", now=19)
    assert w.standing({"p0": (1,), "p1": (2,)}, now=20) == ["p1"]
    # a partition no longer assigned is forgotten, and starts over if it comes back
    assert w.standing({"p1": (2,)}, now=21) == ["p1"]
    assert w.standing({"p0": (1,), "p1": (2,)}, now=22) == ["p1"]


def test_reading_resumes_at_the_committed_offset_else_the_expected_one() -> None:
    assert resume_from(97, 140) == 97  # 97..139 delivered and never acknowledged
    assert resume_from(None, 140) == 140
    assert resume_from(None, None) is None


class _Message:
    """What the watch reads of a message in flight (faust keeps them in a WeakSet)."""

    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset = tp, offset


def _consumer(monkeypatch: pytest.MonkeyPatch, assigned: set[TP], ends: dict[TP, int]) -> Any:
    import faust

    from streams.runtime import patches

    patches.apply()
    app = faust.App("stalls-unit", broker="kafka://127.0.0.1:1", store="memory://")
    consumer = app.consumer
    monkeypatch.setattr(consumer, "assignment", lambda: set(assigned))

    async def highwaters(*tps: TP) -> dict[TP, int]:
        return {tp: ends[tp] for tp in tps}

    monkeypatch.setattr(consumer, "highwaters", highwaters)
    seen_end = dict(ends)  # what the fetcher last heard of each log end
    monkeypatch.setattr(consumer, "highwater", lambda tp: seen_end.get(tp))
    consumer.fq_seen_end = seen_end
    consumer.resume_flow()
    app.flow_control.resume()
    return consumer


def test_a_partition_left_paused_with_records_to_do_is_fetched_again_from_its_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck, done, busy = TP("t", 3), TP("t", 1), TP("t", 2)
    consumer = _consumer(monkeypatch, {stuck, done, busy}, {stuck: 187, done: 40, busy: 90})
    consumer._set_active_tps({stuck, done, busy})
    consumer.pause_partitions({stuck})  # as seen: assigned, never fetched again
    consumer._committed_offset.update({stuck: 97, done: 40, busy: 60})
    consumer._fq_admission.sought(stuck, 97)
    in_flight = _Message(busy, 60)
    consumer._unacked_messages.add(in_flight)  # busy: a batch of it is being worked on
    watch = StallWatch(stall_s=10)

    assert asyncio.run(stalls.check(consumer, watch, now=0)) == []
    assert asyncio.run(stalls.check(consumer, watch, now=5)) == []
    assert asyncio.run(stalls.check(consumer, watch, now=10)) == [stuck]
    assert stuck in consumer._get_active_partitions()
    assert stuck not in consumer._paused_partitions
    assert consumer._fq_admission.rewinds() == {stuck: 97}
    assert consumer._fq_admission.rewound == 1
    # once rewound it gets the stall time again; done (at its end) and busy never are
    assert asyncio.run(stalls.check(consumer, watch, now=15)) == []
    assert asyncio.run(stalls.check(consumer, watch, now=20)) == [stuck]


def test_nothing_is_rewound_while_flow_is_suspended_or_the_tables_recover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = TP("t", 0)
    consumer = _consumer(monkeypatch, {stuck}, {stuck: 10})
    consumer._committed_offset[stuck] = 3
    watch = StallWatch(stall_s=10)
    asyncio.run(stalls.check(consumer, watch, now=0))
    consumer.stop_flow()  # a rebalance
    assert asyncio.run(stalls.check(consumer, watch, now=30)) == []
    consumer.resume_flow()
    consumer.app.in_recovery = True
    assert asyncio.run(stalls.check(consumer, watch, now=60)) == []
    consumer.app.in_recovery = False
    # the watch starts over once flow is back: a rebalance is not a stall
    assert asyncio.run(stalls.check(consumer, watch, now=61)) == []
    assert asyncio.run(stalls.check(consumer, watch, now=71)) == [stuck]


def test_the_worker_checks_for_stalled_partitions_on_a_timer() -> None:
    from streams.app import create_app
    from streams.config import WorkerConfig

    app, _ctx = create_app(WorkerConfig(app_id="stalls-timer"))
    names = [getattr(t, "__qualname__", "") for t in app._app_tasks]
    assert "create_app.<locals>._stalled_partitions" in names


def test_an_idle_partition_that_just_got_records_is_not_taken_for_a_stalled_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quiet = TP("t", 0)
    consumer = _consumer(monkeypatch, {quiet}, {quiet: 0})
    consumer._committed_offset[quiet] = 0
    consumer._fq_admission.sought(quiet, 0)
    watch = StallWatch(stall_s=10)
    asked: list[tuple[TP, ...]] = []

    async def counted(*tps: TP) -> dict[TP, int]:
        asked.append(tps)
        return {tp: 0 for tp in tps}

    monkeypatch.setattr(consumer, "highwaters", counted)
    for now in (0, 5, 10, 15, 20, 25, 30, 35, 40, 45):  # nothing there: nothing to do
        assert asyncio.run(stalls.check(consumer, watch, now)) == []
    # the broker is asked about it every 30 s only (the fetcher's news may be stale)
    assert asked == [(quiet,), (quiet,)]
    asked.clear()
    watch.asked_all = 45.0
    # records arrive; the fetcher hears of them before the agents have taken the first
    consumer.fq_seen_end[quiet] = 7
    monkeypatch.setattr(consumer, "highwaters", _ends({quiet: 7}))
    assert asyncio.run(stalls.check(consumer, watch, now=50)) == []
    # ... but if the agents still have not taken them 10 s later, they never will
    assert asyncio.run(stalls.check(consumer, watch, now=60)) == [quiet]


def test_a_partition_no_longer_fetched_is_found_though_its_news_says_it_is_at_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the fetcher last heard of offset 40 and all 40 are done; 12 more came since, unfetched
    stale = TP("t", 1)
    consumer = _consumer(monkeypatch, {stale}, {stale: 52})
    consumer.fq_seen_end[stale] = 40
    consumer._committed_offset[stale] = 40
    consumer._fq_admission.sought(stale, 40)
    consumer._set_active_tps(set())  # no longer fetched
    watch = StallWatch(stall_s=10)
    watch.asked_all = 0.0
    assert asyncio.run(stalls.check(consumer, watch, now=0)) == []
    assert asyncio.run(stalls.check(consumer, watch, now=15)) == []  # not asked yet
    assert asyncio.run(stalls.check(consumer, watch, now=30)) == [stale]
    assert stale in consumer._get_active_partitions()


def _ends(ends: dict[TP, int]) -> Any:
    async def highwaters(*tps: TP) -> dict[TP, int]:
        return {tp: ends[tp] for tp in tps}

    return highwaters
