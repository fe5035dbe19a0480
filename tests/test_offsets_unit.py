"""The commit rule that replaces faust 0.15's: commit only over processed offsets, from the head."""

from __future__ import annotations

import logging
from typing import Any

import pytest

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
    """What ``batches`` uses of a faust stream: its channel's queue, events() and ack()."""

    def __init__(self) -> None:
        import asyncio
        from types import SimpleNamespace

        self.q: asyncio.Queue[int] = asyncio.Queue()
        self.channel = SimpleNamespace(queue=self.q)
        self.acked: list[int] = []
        self.enable_acks = True

    async def events(self) -> Any:
        while True:
            yield await self.q.get()

    async def ack(self, event: int) -> None:
        self.acked.append(event)


def test_batches_take_what_is_buffered_up_to_the_maximum_and_ack_after_use() -> None:
    import asyncio

    async def main() -> None:
        s = _Stream()
        for i in range(7):
            s.q.put_nowait(i)
        got: list[list[int]] = []
        async for batch in stream.batches(s, max_size=3):
            assert s.acked == [e for b in got for e in b]  # earlier batches only
            got.append(list(batch))
            if len(got) == 3:
                break
        assert got == [[0, 1, 2], [3, 4, 5], [6]] and s.enable_acks is False

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
