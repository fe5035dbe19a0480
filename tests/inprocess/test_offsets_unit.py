"""The commit rule that replaces faust 0.15's: commit only over processed offsets, from the head."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from streams.runtime import fetch, offsets, stream
from streams.runtime.offsets import Admission, new_offset


def test_run_from_the_committed_offset_is_committed() -> None:
    acked = [5, 3, 4, 7]
    assert new_offset(acked, 3) == (6, 3)
    assert acked[:3] == [3, 4, 5]


def test_the_first_unprocessed_message_blocks_the_commit() -> None:
    # faust 0.15 returned 8 here (off by one), committing over offset 3 that no agent finished
    assert new_offset([4, 5, 6, 7], 3) == (None, 0)
    # and with nothing committed yet at 0 it did not look at the head at all
    assert new_offset([1, 2], 0) == (None, 0)


def test_nothing_is_committed_before_the_position_is_known() -> None:
    assert new_offset([0, 1, 2], None) == (None, 0)
    assert new_offset([], 5) == (None, 0)


def test_only_the_first_consecutive_run_counts() -> None:
    acked = [0, 1, 2, 4, 5]
    assert new_offset(acked, 0) == (3, 3)
    # offset 3 is still missing: the next call waits for it
    assert new_offset(acked[3:], 3) == (None, 0)


def test_admission_delivers_each_partition_strictly_in_order_from_its_position() -> None:
    a = Admission()
    # a new assignment: the first record tells where the fetcher started
    assert [a.admit("p0", o) for o in (13, 14, 15)] == [True, True, True]
    # a seek back to the committed offset while flow is active: delivered stays delivered
    a.sought("p0", 13, flowing=True)
    assert [a.admit("p0", o) for o in (13, 14, 15, 16)] == [False, False, False, True]


def test_records_fetched_before_a_seek_cannot_run_ahead_of_it() -> None:
    a = Admission()
    a.sought("p0", 39)
    # 41.. were fetched before the seek (39 and 40 were in flight and never processed)
    assert [a.admit("p0", o) for o in (41, 42)] == [False, False]
    assert [a.admit("p0", o) for o in (39, 40, 41, 42)] == [True, True, True, True]
    assert a.dropped == 2


def test_records_arriving_while_flow_is_suspended_are_held_and_fetched_again() -> None:
    a = Admission()
    a.sought("p0", 12)
    # recovery: faust would skip these or clear them from the stream's buffer on resume
    assert [a.admit("p0", o, flowing=False) for o in (12, 13, 14)] == [False, False, False]
    assert a.rewinds() == {"p0": 12}
    assert a.rewinds() == {}
    # the rest of the old batch is dropped; the refetch from 12 is delivered
    assert [a.admit("p0", o) for o in (15, 12, 13, 14, 15)] == [False, True, True, True, True]


def test_a_seek_during_suspended_flow_expects_the_sought_offset_again() -> None:
    a = Admission()
    assert [a.admit("p0", o) for o in (12, 13)] == [True, True]
    a.sought("p0", 12)  # these deliveries were cleared with the stream's buffer
    assert a.admit("p0", 12)


def test_a_revoked_partition_starts_over() -> None:
    a = Admission()
    a.sought("p0", 5)
    assert a.admit("p0", 5)
    a.admit("p0", 6, flowing=False)
    a.forget(["p0"])
    assert a.rewinds() == {}
    assert a.admit("p0", 3)  # the next owner's position, whatever it is


def test_cleared_stream_buffers_are_fetched_again_from_the_first_unacknowledged() -> None:
    a = Admission()
    assert all(a.admit("p0", o) for o in range(12, 44))  # delivered 12..43
    # faust resumed flow and cleared the buffers: 12..21 were processed, 22..43 were not
    a.buffers_cleared("p0", acked=list(range(12, 22)), committed=12)
    assert a.rewinds() == {"p0": 22}
    assert [a.admit("p0", o) for o in (44, 22, 23)] == [False, True, True]


def test_nothing_to_fetch_again_when_every_delivered_record_was_acknowledged() -> None:
    a = Admission()
    assert all(a.admit("p0", o) for o in range(5, 8))
    a.buffers_cleared("p0", acked=[], committed=8)
    a.buffers_cleared("p1", acked=[], committed=None)  # never delivered: nothing known
    assert a.rewinds() == {}


def test_a_gap_that_lasts_a_minute_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(offsets.time, "monotonic", lambda: clock[0])
    a = Admission()
    a.sought("p0", 10)
    assert not a.admit("p0", 12)  # right after a seek: normal, not reported
    clock[0] += 61
    with caplog.at_level(logging.WARNING, logger="fengqiao.worker.offsets"):
        assert not a.admit("p0", 13)
    assert "gap in its offsets" in caplog.text
    caplog.clear()
    assert a.admit("p0", 10)  # the record arrived: the clock restarts
    clock[0] += 61
    with caplog.at_level(logging.WARNING, logger="fengqiao.worker.offsets"):
        assert not a.admit("p0", 14)
    assert caplog.text == ""


def test_rest_finishes_a_coroutine_that_suspended_and_passes_cancellation_on() -> None:
    import asyncio

    from streams.runtime.fetch import Rest as _Rest

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[int] = loop.create_future()
        log: list[str] = []

        async def deliver() -> str:
            log.append("start")
            value = await gate
            await asyncio.sleep(0)  # a second suspension, a bare yield
            log.append(f"got {value}")
            return "done"

        coro = deliver()
        pending = coro.send(None)  # runs to the first await, as the fetch loop does
        assert log == ["start"] and pending is gate
        task = asyncio.ensure_future(_Rest(coro, pending))
        await asyncio.sleep(0)
        assert not task.done()
        gate.set_result(7)
        assert await task == "done" and log == ["start", "got 7"]

        # a coroutine that completes at once raises StopIteration on the first send
        async def immediate() -> int:
            return 1

        with pytest.raises(StopIteration):
            immediate().send(None)

        # cancelling the task cancels the coroutine it continues
        stuck: asyncio.Future[int] = loop.create_future()
        cleaned: list[bool] = []

        async def blocked() -> None:
            try:
                await stuck
            finally:
                cleaned.append(True)

        coro2 = blocked()
        task2 = asyncio.ensure_future(_Rest(coro2, coro2.send(None)))
        await asyncio.sleep(0)
        task2.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task2
        assert cleaned == [True] and stuck.cancelled()

    asyncio.run(main())


class _Stream:
    """What ``batches`` uses of a faust stream: its app (a real one, never started), its
    channel's queue of real faust events, events() and the events' own ack()."""

    def __init__(self) -> None:
        import asyncio
        from types import SimpleNamespace

        self.app, self.consumer = _real_consumer()
        self.app.topics._acking_topics.add("t")
        self.app.flow_control.resume()
        self.q: asyncio.Queue[Any] = asyncio.Queue()
        self.channel = SimpleNamespace(queue=self.q)
        self.enable_acks = True
        self.events_total = 0
        self.iterated: list[int] = []  # what came through events(), not take_buffered

    def put(self, *offsets: int, generation: int = 0) -> None:
        from faust.events import Event
        from faust.types import ConsumerMessage

        for offset in offsets:
            m = ConsumerMessage(
                "t", 0, offset, 0.0, 0, [], b"k", b"v", None, generation_id=generation
            )
            m.tracked, m.refcount = False, 1  # as the conductor hands it to one channel
            self.q.put_nowait(Event(self.app, b"k", b"v", [], m))

    async def events(self) -> Any:
        while True:
            event = await self.q.get()
            self.iterated.append(event.message.offset)
            yield event

    @property
    def acked(self) -> list[int]:
        from faust.types import TP

        return list(self.consumer._acked[TP("t", 0)])


def _offsets(batch: list[Any]) -> list[int]:
    return [e.message.offset for e in batch]


def test_batches_take_what_is_buffered_up_to_the_maximum_and_ack_after_use() -> None:
    import asyncio

    async def main() -> None:
        s = _Stream()
        s.put(*range(7))
        got: list[list[int]] = []
        async for batch in stream.batches(s, max_size=3):
            assert s.acked == [e for b in got for e in b]  # earlier batches only
            got.append(_offsets(batch))
            if len(got) == 3:
                break
        assert got == [[0, 1, 2], [3, 4, 5], [6]] and s.enable_acks is False
        # each batch's first event came through the stream's iterator, the rest straight
        # from the queue
        assert s.iterated == [0, 3, 6] and s.events_total == 4

    asyncio.run(main())


def test_a_batch_in_flight_is_acked_once_delivered_while_the_next_is_worked_on() -> None:
    import asyncio

    async def main() -> None:
        s = _Stream()
        s.put(*range(7))
        loop = asyncio.get_running_loop()
        in_flight = stream.InFlight()
        gen = stream.batches(s, max_size=3, in_flight=in_flight)
        assert _offsets(await gen.__anext__()) == [0, 1, 2]
        first = loop.create_future()
        in_flight.put(first)
        # the second batch is in hand before the first is delivered: nothing acked yet
        assert _offsets(await gen.__anext__()) == [3, 4, 5]
        assert s.acked == []
        first.set_result(None)
        second = loop.create_future()
        in_flight.put(second)
        loop.call_later(0.05, second.set_result, None)
        # at most one batch in flight: the third waits until the first is acked
        assert _offsets(await gen.__anext__()) == [6]
        assert s.acked == [0, 1, 2]
        third = loop.create_future()
        in_flight.put(third)
        # asking for more waits for the second's delivery, then acks it, in order
        nxt = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.1)
        assert s.acked == [0, 1, 2, 3, 4, 5] and not nxt.done()
        # stopped (the agent cancelled) with the third in flight: its wait is cancelled and
        # the third batch is never acked, so it is read again
        nxt.cancel()
        await asyncio.sleep(0.01)
        assert third.cancelled() and s.acked == [0, 1, 2, 3, 4, 5]

    asyncio.run(main())


def test_a_failed_delivery_stops_the_batches_with_the_batch_unacked() -> None:
    import asyncio

    async def main() -> None:
        s = _Stream()
        s.put(*range(5))
        in_flight = stream.InFlight()
        with pytest.raises(KafkaTimeoutError):
            async for _batch in stream.batches(s, max_size=2, in_flight=in_flight):
                failed = asyncio.get_running_loop().create_future()
                failed.set_exception(KafkaTimeoutError("no ack"))
                in_flight.put(failed)
        assert s.acked == []

    asyncio.run(main())


def test_a_batch_yielded_with_nothing_buffered_behind_it_is_acked_as_soon_as_delivered() -> None:
    import asyncio

    async def main() -> None:
        s = _Stream()
        s.put(0)
        in_flight = stream.InFlight()
        gen = stream.batches(s, max_size=10, in_flight=in_flight)
        assert _offsets(await gen.__anext__()) == [0]
        delivery = asyncio.get_running_loop().create_future()
        in_flight.put(delivery)
        nxt = asyncio.ensure_future(gen.__anext__())  # waits for an event that never comes
        await asyncio.sleep(0.01)
        assert s.acked == []
        delivery.set_result(None)
        await asyncio.sleep(0.01)
        assert s.acked == [0] and not nxt.done()  # acked without waiting for the next event
        nxt.cancel()

    asyncio.run(main())


def test_buffered_events_are_taken_as_the_iterator_would_deliver_them() -> None:
    """``take_buffered``: what flow control stopped, or an earlier generation fetched, is
    dropped unacknowledged (fetched again); the rest is tracked as unacknowledged, so a
    rebalance waits for it; a value that is not an event stays for the iterator."""
    import asyncio

    async def main() -> None:
        s = _Stream()
        s.put(1, 2)
        s.put(3, generation=-1)  # fetched before the group's last rebalance
        s.put(4)
        batch: list[Any] = []
        stream.take_buffered(s, s.q, batch, max_size=10)
        assert _offsets(batch) == [1, 2, 4] and s.q.empty()
        assert {m.offset for m in s.consumer._unacked_messages} == {1, 2, 4}
        assert all(e.message.tracked for e in batch) and s.events_total == 3

        s.put(5, 6)
        s.app.flow_control.suspend()  # a rebalance began
        more: list[Any] = []
        stream.take_buffered(s, s.q, more, max_size=10)
        assert more == [] and s.q.empty() and s.acked == []
        s.app.flow_control.resume()

        s.put(7)
        s.q.put_nowait("a value sent to the channel")
        s.put(8)
        rest: list[Any] = []
        stream.take_buffered(s, s.q, rest, max_size=10)
        assert _offsets(rest) == [7] and s.q.qsize() == 2

        full: list[Any] = []
        s.q.get_nowait(), s.q.get_nowait()
        s.put(9, 10, 11)
        stream.take_buffered(s, s.q, full, max_size=2)
        assert _offsets(full) == [9, 10] and s.q.qsize() == 1

    asyncio.run(main())


def test_the_worker_consumer_gets_the_fetch_settings_of_the_app() -> None:
    import asyncio
    from types import SimpleNamespace

    from aiokafka import AIOKafkaConsumer

    async def build() -> Any:
        # a real aiokafka consumer (not started): the wrapper sets the attributes its start()
        # hands to the Fetcher, so a rename in aiokafka fails here
        def orig(self: Any, transport: Any) -> Any:
            return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)

        thread = SimpleNamespace(app=SimpleNamespace(fq_fetch=(65_536, 50)))
        plain = SimpleNamespace(app=SimpleNamespace())
        create = fetch.with_fetch_settings(orig)
        return create(thread, None), create(plain, None)

    tuned, untouched = asyncio.run(build())
    assert (tuned._fetch_min_bytes, tuned._fetch_max_wait_ms) == (65_536, 50)
    assert (untouched._fetch_min_bytes, untouched._fetch_max_wait_ms) == (1, 1500)


def test_create_app_passes_the_fetch_settings_on() -> None:
    from fengqiao.settings import Settings
    from fengqiao.workerwiring import worker_config
    from streams.app import create_app

    s = Settings(worker_fetch_min_bytes=1000, worker_fetch_max_wait_ms=7)
    app, _ctx = create_app(worker_config(s), features=())
    assert app.fq_fetch == (1000, 7)  # type: ignore[attr-defined]


# --- one test per patch in streams/runtime/patches.py (each named there) -----------------


def _real_consumer() -> tuple[Any, Any]:
    """A faust app and its worker consumer, patched, never started (no broker needed)."""
    import faust

    from streams.runtime import patches

    patches.apply()
    app = faust.App("offsets-unit", broker="kafka://127.0.0.1:1", store="memory://")
    return app, app.consumer


def test_only_a_message_the_agent_finished_is_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    """faust acknowledged the message in flight when the agent stopped; here only one the
    agent asked past is acknowledged."""
    import asyncio

    import faust.streams as fs

    acks: list[tuple[int, bool]] = []

    class Iterator:
        def __init__(self, owner: Any) -> None:
            self.values = iter([1, 2, 3])

        async def next(self) -> tuple[Any, None]:
            try:
                return next(self.values), None
            except StopIteration:
                raise StopAsyncIteration from None

        def after(self, event: Any, do_ack: bool, sensor_state: Any) -> None:
            acks.append((event, do_ack))

    class FakeStream:
        _skipped_value = object()
        should_stop = False
        enable_acks = True
        events_total = 0
        channel = None

        def __init__(self) -> None:
            self.current_event: Any = None

        async def maybe_start(self) -> bool:
            return False

        def _channel_stop_iteration(self, channel: Any) -> None:
            pass

    monkeypatch.setattr(fs, "_CStreamIterator", Iterator)

    async def main() -> None:
        s = FakeStream()
        it = stream.c_aiter(s)
        async for value in it:
            s.current_event = value * 10  # what faust's stream sets for the message in hand
            if value == 2:
                break  # the agent stops in the middle of message 2
        await it.aclose()

    asyncio.run(main())
    assert acks == [(10, True), (20, False)]


def test_the_consumer_never_commits_over_an_unacknowledged_message() -> None:
    """faust-streaming #606's own case: committed 2585, 2586..2589 acknowledged, 2585 still in
    flight. faust committed 2590 and lost 2585; nothing may be committed until it is done."""
    from faust.types import TP

    _app, consumer = _real_consumer()
    tp = TP("t", 0)
    consumer._committed_offset[tp] = 2585
    consumer._acked[tp] = [2586, 2587, 2588, 2589]
    consumer._acked_index[tp] = set(consumer._acked[tp])
    assert consumer._new_offset(tp) is None
    consumer._acked[tp].append(2585)
    consumer._acked_index[tp].add(2585)
    assert consumer._new_offset(tp) == 2590
    assert consumer._acked[tp] == [] and consumer._acked_index[tp] == set()


def test_every_partition_is_sought_to_its_committed_or_earliest_offset() -> None:
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    a, b, c, log = TP("t", 0), TP("t", 1), TP("t", 2), TP("app-x-changelog", 0)
    seeks: list[dict[Any, int]] = []
    admission = Admission()

    async def seek_to_committed() -> dict[Any, int | None]:
        return {a: 7, b: None, c: 0, log: 3}

    async def earliest_offsets(*tps: Any) -> dict[Any, int]:
        assert log not in tps  # changelogs are left to table recovery
        return {a: 0, b: 4, c: 2}

    async def seek_wait(moves: dict[Any, int]) -> None:
        seeks.append(moves)

    consumer = SimpleNamespace(
        seek_to_committed=seek_to_committed,
        earliest_offsets=earliest_offsets,
        seek_wait=seek_wait,
        _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"),
        _committed_offset={},
        _fq_admission=admission,
        app=SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: False)),
    )
    asyncio.run(offsets.perform_seek(consumer))
    # a stays where it was committed; b (none) and c (0, below the earliest) go to the earliest
    assert seeks == [{b: 4, c: 2}]
    assert consumer._committed_offset == {a: 7, b: 4, c: 2}
    assert admission.next == {a: 7, b: 4, c: 2}


def test_a_jump_in_offsets_is_not_counted_as_processed() -> None:
    import asyncio

    from faust.types import TP

    _app, consumer = _real_consumer()
    tp = TP("t", 0)
    asyncio.run(consumer._add_gap(tp, 3, 7))
    assert list(consumer._acked.get(tp, [])) == []
    consumer._committed_offset[tp] = 3
    assert consumer._new_offset(tp) is None


def test_a_consumer_has_admission_and_no_read_mark() -> None:
    from faust.types import TP

    app, consumer = _real_consumer()
    assert isinstance(consumer._fq_admission, Admission)
    consumer._read_offset[TP("t", 0)] = 5  # faust's fetch loop writes its mark here
    assert consumer._read_offset[TP("t", 0)] is None
    assert len(app.flow_control.fq_on_clear) == 1


def test_a_fetcher_that_lost_its_place_is_rewound_to_the_expected_offset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # seen on the three-broker cluster after a rebalance during a broker outage: the agents
    # needed offset 50 while the fetcher returned 79, 80, ... for minutes
    clock = [1000.0]
    monkeypatch.setattr(offsets.time, "monotonic", lambda: clock[0])
    a = Admission(stall_s=10)
    a.sought("p0", 50)
    assert not a.admit("p0", 79)  # right after a seek: normal, nothing to do yet
    clock[0] += 9
    assert not a.admit("p0", 80)
    assert a.rewinds() == {}
    clock[0] += 1
    with caplog.at_level(logging.WARNING, logger="fengqiao.worker.offsets"):
        assert not a.admit("p0", 81)
    assert "returns 81 but the agents need 50 next, for 10 s: reading again from 50" in caplog.text
    assert a.rewinds() == {"p0": 50} and a.rewound == 1
    # the rest of the old fetch is dropped without a second rewind; the refetch is delivered
    assert not a.admit("p0", 82)
    assert a.rewinds() == {}
    assert [a.admit("p0", o) for o in (50, 51)] == [True, True]
    assert a.rewound == 1


def test_a_lasting_gap_is_rewound_again_every_stall_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr(offsets.time, "monotonic", lambda: clock[0])
    a = Admission(stall_s=10)
    a.sought("p0", 5)  # offset 5 is gone (a compacted topic): every fetch returns 7
    rewinds = []
    for _ in range(31):
        a.admit("p0", 7)
        rewinds.append(a.rewinds())
        clock[0] += 1
    assert [r for r in rewinds if r] == [{"p0": 5}] * 3  # at 10, 20 and 30 s, not each fetch
    a.forget(["p0"])
    assert a.admit("p0", 7)  # a new owner starts where its fetcher is


def test_getmany_delivers_in_order_and_rewinds_what_was_held() -> None:
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    tp, log = TP("t", 0), TP("app-x-changelog", 0)
    flowing = [True]
    batches = [
        [(tp, 5), (tp, 7), (tp, 6), (log, 40), (tp, 7)],  # 7 before 6: dropped, then taken
        [(tp, 8), (tp, 9)],  # flow suspended: held
        [(tp, 8), (tp, 9)],  # after the rewind to 8
    ]
    seeks: list[dict[Any, int]] = []
    admission = Admission()
    admission.sought(tp, 5)

    async def orig(self: Any, timeout: float) -> Any:
        for t, off in batches.pop(0):
            yield t, SimpleNamespace(offset=off)

    async def seek_wait(moves: dict[Any, int]) -> None:
        seeks.append(moves)

    consumer = SimpleNamespace(
        _fq_admission=admission,
        _is_changelog_tp=lambda t: t.topic.endswith("-changelog"),
        app=SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: flowing[0])),
        assignment=lambda: {tp, log},
        seek_wait=seek_wait,
    )
    getmany = offsets.admitting_getmany(orig)

    async def take() -> list[tuple[Any, int]]:
        return [(t, m.offset) for t, m in [x async for x in getmany(consumer, 1.0)]]

    async def main() -> list[list[tuple[Any, int]]]:
        first = await take()
        flowing[0] = False
        second = await take()
        flowing[0] = True
        return [first, second, await take()]

    got = asyncio.run(main())
    assert got == [[(tp, 5), (tp, 6), (log, 40), (tp, 7)], [], [(tp, 8), (tp, 9)]]
    assert seeks == [{tp: 8}]


def test_getmany_seeks_a_stalled_partition_back_to_the_offset_the_agents_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    clock = [0.0]
    monkeypatch.setattr(offsets.time, "monotonic", lambda: clock[0])
    tp = TP("t", 3)
    admission = Admission(stall_s=10)
    admission.sought(tp, 50)
    fetched = [[(tp, 79), (tp, 80)], [(tp, 81), (tp, 82)], [(tp, 50), (tp, 51)]]
    seeks: list[dict[Any, int]] = []

    async def orig(self: Any, timeout: float) -> Any:
        for t, off in fetched.pop(0):
            yield t, SimpleNamespace(offset=off)
            clock[0] += 5

    async def seek_wait(moves: dict[Any, int]) -> None:
        seeks.append(moves)

    consumer = SimpleNamespace(
        _fq_admission=admission,
        _is_changelog_tp=lambda t: False,
        app=SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: True)),
        assignment=lambda: {tp},
        seek_wait=seek_wait,
    )
    getmany = offsets.admitting_getmany(orig)

    async def take() -> list[int]:
        return [m.offset for _t, m in [x async for x in getmany(consumer, 1.0)]]

    async def main() -> list[list[int]]:
        return [await take(), await take(), await take()]

    # 79 at 0 s and 80 at 5 s are dropped; 81 at 10 s: the fetcher is sought back to 50
    assert asyncio.run(main()) == [[], [], [50, 51]]
    assert seeks == [{tp: 50}]


def test_clearing_the_flow_refetches_what_was_not_acknowledged() -> None:
    from faust.types import TP

    app, consumer = _real_consumer()
    tp = TP("t", 0)
    admission = consumer._fq_admission
    admission.sought(tp, 5, flowing=True)
    for off in (5, 6, 7):
        assert admission.admit(tp, off)
    consumer._committed_offset[tp] = 5
    consumer._acked[tp] = [5]
    app.flow_control.clear()  # faust does on every resume: the buffered 6 and 7 are gone
    assert admission.held == {tp: 6}


def test_revoked_partitions_are_forgotten_before_faust_revokes_them() -> None:
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    tp, kept = TP("t", 0), TP("t", 1)
    admission = Admission()
    admission.sought(tp, 3)
    admission.sought(kept, 9)
    seen: list[dict[Any, int]] = []

    async def orig(self: Any, revoked: Any) -> None:
        seen.append(dict(admission.next))

    consumer = SimpleNamespace(_fq_admission=admission)
    asyncio.run(offsets.revoked_forgotten(orig)(consumer, {tp}))
    assert seen == [{kept: 9}]


def test_the_fetch_loop_delivers_without_a_task_unless_the_callback_waits() -> None:
    import asyncio
    from types import SimpleNamespace

    delivered: list[tuple[int, bool]] = []  # offset, delivered in the fetch loop's own task
    stopped = asyncio.Event
    gate: list[asyncio.Event] = []

    async def main() -> None:
        consumer_stopped, fetcher_stopped = stopped(), stopped()
        gate.append(asyncio.Event())
        loop_task = asyncio.current_task()

        async def callback(message: Any) -> None:
            if message.offset == 2:  # a full buffer: the callback has to wait
                await gate[0].wait()
            delivered.append((message.offset, asyncio.current_task() is loop_task))
            if message.offset == 3:
                consumer_stopped.set()

        async def getmany(timeout: float) -> Any:
            for off in (1, 2, 3):
                yield None, SimpleNamespace(offset=off)

        async def sleep(s: float) -> None:
            await asyncio.sleep(s)

        async def wait_first(*coros: Any) -> None:
            gate[0].set()  # the flow was not suspended: the callback may finish
            await coros[0]
            for c in coros[1:]:
                c.close()

        consumer = SimpleNamespace(
            callback=callback,
            getmany=getmany,
            _stopped=consumer_stopped,
            diag=SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None),
            _commit_every=None,
            should_stop=False,
            sleep=sleep,
            suspend_flow=asyncio.Event(),
            wait_first=wait_first,
            consumer_stopped_errors=(),
            transport=SimpleNamespace(app=SimpleNamespace(should_stop=True)),
            log=logging.getLogger("test"),
        )
        await fetch.drain_messages(consumer, SimpleNamespace(_stopped=fetcher_stopped))

    asyncio.run(main())
    # 1 and 3 are delivered in the loop itself; the rest of 2 ran as a task once it waited
    assert delivered == [(1, True), (2, False), (3, True)]


def test_the_monitor_is_kept_out_of_the_sensors() -> None:
    import faust

    from streams.runtime.sensors import without_monitor_sensor

    app = faust.App("sensors-unit", broker="kafka://127.0.0.1:1", store="memory://")
    without_monitor_sensor(app)
    monitor = app.monitor
    app.sensors.add(monitor)
    assert monitor not in set(app.sensors)
    other = faust.Sensor()
    app.sensors.add(other)
    assert other in set(app.sensors)


def test_apply_fails_loudly_when_the_compiled_iterator_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faust.streams as fs

    from streams.runtime import patches

    monkeypatch.setattr(fs, "_CStreamIterator", None)
    with pytest.raises(patches.RuntimeNotPatched, match="compiled stream iterator"):
        patches.apply()


def test_every_patch_is_installed_and_read_back_from_the_classes() -> None:
    from streams.runtime import patches

    names = [p.name for p in patches.PATCHES]
    assert patches.apply() == names
    patch = patches.PATCHES[1]
    original = patch.owner.__dict__[patch.attribute]
    try:
        setattr(patch.owner, patch.attribute, lambda self, tp: None)  # someone undid it
        assert patch.name not in patches.installed()
    finally:
        setattr(patch.owner, patch.attribute, original)
    assert patches.installed() == names


def test_every_patch_and_workaround_names_a_test_that_exists() -> None:
    import ast
    from pathlib import Path

    from streams.runtime import patches

    root = Path(__file__).parents[2]
    entries = [*patches.PATCHES, *patches.WORKAROUNDS]
    for entry in entries:
        path, name = entry.test.split("::")
        tree = ast.parse((root / path).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"{entry.name}: {entry.test} does not exist"
        assert entry.upstream


def test_the_worker_producer_is_idempotent_with_acks_all() -> None:
    import asyncio

    from fengqiao.settings import Settings
    from fengqiao.workerwiring import worker_config
    from streams.app import create_app
    from streams.runtime import patches

    patches.apply()

    async def build() -> Any:
        # the aiokafka producer faust makes for the worker (not started: no broker needed)
        app, _ctx = create_app(worker_config(Settings()), features=())
        return app.producer._new_producer()  # type: ignore[attr-defined]

    async def made() -> tuple[bool, int, object]:
        p = await build()
        try:
            # aiokafka keeps its sequence numbers in a transaction manager: idempotence is on
            return p._txn_manager is not None, p._sender._acks, p._txn_manager.transactional_id
        finally:
            await p.stop()

    idempotent, acks, transactional_id = asyncio.run(made())
    assert idempotent and acks == -1  # acks=all
    assert transactional_id is None  # idempotent only: no transactions


def test_table_reads_go_to_the_memory_store_dict_of_a_real_table() -> None:
    import faust

    from streams.runtime.tables import rows
    from streams.writeback import WriteBack

    app = faust.App("fq-table-reads", broker="kafka://127.0.0.1:9", store="memory://")
    table = app.Table("t", default=None, partitions=2)
    found = rows(table)  # taken when the agent is registered, before any row exists
    table.data["a"] = {"v": 1}  # what table_records does: straight into the store
    assert type(found) is dict and found == {"a": {"v": 1}} and found is rows(table)
    view = WriteBack(table, lambda k, v: 0, reads=found)
    assert view.get("a") == {"v": 1} and view.get("b") is None and "b" not in view
    view["b"] = {"v": 2}
    del view["a"]
    assert view.get("a") is None and "a" not in view and view["b"] == {"v": 2}
    assert sorted(view) == ["b"] and table.data["a"] == {"v": 1}  # base unchanged until written


def test_changelog_records_are_encoded_byte_for_byte_as_faust_encodes_them() -> None:
    from datetime import UTC, datetime

    import faust

    from streams.runtime.tables import json_encoder

    app = faust.App("fq-table-codec", broker="kafka://127.0.0.1:9", store="memory://")
    table = app.Table("t", default=None, partitions=2)
    topic = table.changelog_topic
    encode = json_encoder(table)
    assert encode is not None
    keys = ["case-1", "r1|longwan/shacheng", "沙城/labour", "", 'q"\\\n']
    values = [
        {"score": 12.5, "at": 1764000000.123456, "level": "amber", "ids": [1, None, True]},
        {"members": [{"name_key": "沙", "amount": "1200.50", "people": 3}], "hw": 1e-7},
        {"when": datetime(2026, 12, 1, 9, 30, 1, 5, tzinfo=UTC)},
        [],
        "x",
        0,
    ]
    for key in keys:
        assert encode(key) == topic.prepare_key(key, table.key_serializer)[0]
    for value in values:
        assert encode(value) == topic.prepare_value(value, table.value_serializer)[0]
    other = app.Table("raw", default=None, partitions=2)
    other.value_serializer = "raw"
    assert json_encoder(other) is None  # another codec: faust encodes it


def test_a_raw_schema_decodes_to_the_event_faust_would_make() -> None:
    import asyncio

    import faust
    import faust.serializers.schemas as fss
    from faust.types import Message

    from streams.runtime import delivery

    app = faust.App("fq-raw-decode", broker="kafka://127.0.0.1:9", store="memory://")
    raw = app.topic("a", key_serializer="raw", value_serializer="raw").schema
    # faust's own compile, also when the patches are installed in this process
    original = getattr(fss.Schema.compile, "__wrapped__", fss.Schema.compile)
    patched = delivery.with_raw_decode(original)

    async def both() -> None:
        for key, value in ((b"k", b'{"a": 1}'), (None, b"x"), (b"k", None)):
            message = Message(
                topic="a",
                partition=0,
                offset=1,
                timestamp=0.0,
                timestamp_type=0,
                headers=[("h", b"1")],
                key=key,
                value=value,
                checksum=None,
            )
            ours = await patched(raw, app)(message, propagate=True)
            theirs = await original(raw, app)(message, propagate=True)
            assert (ours.key, ours.value, ours.headers) == (
                theirs.key,
                theirs.value,
                theirs.headers,
            )
            assert ours.message is message and theirs.message is message
        # any other schema is compiled by faust: JSON is decoded
        json_schema = app.topic("b", key_serializer="raw", value_serializer="json").schema
        message = Message(
            topic="b",
            partition=0,
            offset=1,
            timestamp=0.0,
            timestamp_type=0,
            headers=[],
            key=b"k",
            value=b'{"a": 1}',
            checksum=None,
        )
        assert (await patched(json_schema, app)(message, propagate=True)).value == {"a": 1}

    asyncio.run(both())


def test_an_empty_producer_buffer_is_passed_at_once_and_a_full_one_waits() -> None:
    import asyncio
    from types import SimpleNamespace

    from streams.runtime import delivery

    waited: list[int] = []

    async def faust_wait(buffer: Any) -> None:
        waited.append(len(buffer.pending._queue))

    check = delivery.with_cheap_ebb(faust_wait)

    async def main() -> None:
        buffer = SimpleNamespace(queue=None, pending=asyncio.Queue())
        await check(buffer)
        assert waited == []  # empty: no wait, no settings lookup
        for i in range(3):
            buffer.pending.put_nowait(i)
        await check(buffer)
        assert waited == [3]  # something buffered: faust's own check decides
        threaded = SimpleNamespace(queue=asyncio.Queue(), pending=asyncio.Queue())
        threaded.queue.put_nowait(1)
        await check(threaded)
        assert waited == [3, 0]

    asyncio.run(main())
