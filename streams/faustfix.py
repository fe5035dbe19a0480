"""Fixes for faust-streaming 0.15's offset bookkeeping: never commit past a message not processed.

Five defects, each of which lost or stalled intake messages when a worker stopped or the group
rebalanced under load (``tests/test_rebalance.py`` and the restart test reproduced them; they
are fixed here, not worked around):

1. The stream iterator acknowledged messages it never handed to the agent body to completion:
   those skipped while flow control is suspended (a stop or a rebalance) and the one in flight
   when the agent is cancelled. Here a message is acknowledged only when the agent asked for
   the next one, i.e. finished with it.
2. ``Consumer._new_offset`` compared the lowest acknowledged offset with the committed offset
   off by one (``min(acked) - committed > 1``), and not at all when the committed offset was
   0 or unknown, so the first unacknowledged message of a partition was committed over. Here
   a commit moves only over a run of acknowledged offsets that starts exactly at the committed
   offset.
3. ``Consumer.perform_seek`` (after every rebalance) left partitions without a committed offset
   (or committed at 0) where the fetcher happened to be, and kept a stale committed offset
   from a commit that did not reach the broker. Here every assigned partition is sought to its
   committed offset, or to the earliest offset when there is none, and that is what the
   bookkeeping starts from.
4. The fetch loop recorded a message as read even when flow control stopped it from being
   delivered (during a rebalance), and records fetched before a seek could be delivered after
   it; the messages read again from the sought position were then dropped as already seen,
   and the partition stalled. Here each stream partition delivers strictly in offset order
   from its position (``Admission``): a record is delivered only if it is the next one; and
   when faust clears the streams' buffers (on every flow-control resume, which happens after
   the seek of a rebalance), the partitions are rewound to their first unacknowledged offset.
5. ``Consumer._add_gap`` counted every offset the fetcher jumped over as acknowledged. Gaps
   are real only in compacted or transactional topics, which no agent here reads; a jump in
   these topics means messages were skipped, so it is no longer counted as processed.

What is not acknowledged stays uncommitted and is read again by whichever worker owns the
partition next (at-least-once, as DESIGN.md promises); every output carries a deterministic id
so sinks drop the repeat.

Also here, because they rest on the same rules: ``batches`` (the intake agent's batching,
acknowledged only after the batch's outputs are sent), and ``_drain_messages``, faust's fetch
loop without its four tasks per record (the same delivery, a third of a bare consumer's CPU),
and ``_fetch_settings``, the consumer's fetch wait and minimum size, which faust fixes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust.streams as fs
import faust.transport.consumer as fc
import faust.transport.drivers.aiokafka as fa
import mode.utils.queues as mq
from faust.types import TP
from faust.utils.functional import consecutive_numbers

log = logging.getLogger("fengqiao.worker.offsets")

_PATCHED = False


async def _c_aiter(self: Any) -> AsyncIterator[Any]:  # pragma: no cover - exercised in workers
    skipped_value = self._skipped_value
    self._finalized = True
    started_by_aiter = await self.maybe_start()
    it = fs._CStreamIterator(self)
    try:
        while not self.should_stop:
            do_ack = self.enable_acks
            value, sensor_state = await it.next()  # noqa: B305
            finished = False
            try:
                if value is not skipped_value:
                    self.events_total += 1
                    yield value
                    finished = True
            finally:
                event, self.current_event = self.current_event, None
                it.after(event, do_ack and finished, sensor_state)
    except StopAsyncIteration:
        return
    finally:
        self._channel_stop_iteration(self.channel)
        if started_by_aiter:
            await self.stop()
            self.service_reset()


def new_offset(acked: list[int], committed: int | None) -> tuple[int | None, int]:
    """The offset to commit given the acknowledged offsets (sorted in place) and the committed
    one, and how many acknowledged offsets that commit covers (to drop from ``acked``).

    Only a run of consecutive offsets starting exactly at ``committed`` can be committed; when
    the committed offset is not known yet nothing is.
    """
    if not acked or committed is None:
        return None, 0
    acked.sort()
    if acked[0] > committed:
        return None, 0
    batch = next(consecutive_numbers(acked))
    return batch[-1] + 1, len(batch)


def _new_offset(self: Any, tp: TP) -> int | None:  # pragma: no cover - exercised in workers
    acked = self._acked[tp]
    offset, n = new_offset(acked, self._committed_offset[tp])
    if n:
        self._acked_index[tp].difference_update(acked[:n])
        del acked[:n]
    return offset


class NoReadMark(dict[Any, int | None]):
    """``Consumer._read_offset`` that never holds a mark, so the fetch loop drops nothing and
    sees no gaps; ``Admission`` decides which records reach the agents instead."""

    def __getitem__(self, tp: Any) -> None:
        return None

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        pass


class Admission:
    """Per stream partition, the offset the agents must get next.

    A record is delivered only if it is that offset (then the next one is expected), so a
    record fetched before a seek can neither run ahead of the sought position nor repeat one
    already delivered. While faust's flow control is suspended (a rebalance, the recovery of
    tables) a delivered record would be skipped or cleared from the stream's buffer, so it is
    held back instead: the fetcher is rewound to the first held record once flow resumes.
    """

    def __init__(self) -> None:
        self.next: dict[Any, int] = {}
        self.start: dict[Any, int] = {}
        self.held: dict[Any, int] = {}
        self.dropped = 0
        self.warned: dict[Any, float] = {}
        self.gap_since: dict[Any, float] = {}

    def admit(self, tp: Any, offset: int, flowing: bool = True) -> bool:
        expected = self.next.get(tp)
        if not flowing:
            if expected is None or offset >= expected:
                self.held[tp] = min(offset, self.held.get(tp, offset))
            return False
        if expected is not None and offset != expected:
            self.dropped += 1
            if offset > expected:
                self._warn_gap(tp, expected, offset)
            return False
        if expected is None:
            self.start[tp] = offset
        self.next[tp] = offset + 1
        self.gap_since.pop(tp, None)
        return True

    def _warn_gap(self, tp: Any, expected: int, offset: int) -> None:
        """Records fetched before a seek are dropped for a moment after every rebalance; a
        minute of it means a real gap in the topic's offsets."""
        now = time.monotonic()
        since = self.gap_since.setdefault(tp, now)
        if now - since < 60 or now - self.warned.get(tp, -1e9) < 60:
            return
        self.warned[tp] = now
        log.warning(
            "%s[%s]: waiting for offset %d for a minute, the fetcher returns %d: the topic has "
            "a gap in its offsets (compaction or transactional producers), which the worker "
            "does not read past. Use a plain topic.",
            getattr(tp, "topic", tp),
            getattr(tp, "partition", ""),
            expected,
            offset,
        )

    def buffers_cleared(self, tp: Any, acked: Any, committed: int | None) -> None:
        """faust dropped what the stream had buffered (it does on every flow-control resume):
        everything delivered but not yet acknowledged is to be fetched again."""
        base = committed if committed is not None else self.start.get(tp)
        expected = self.next.get(tp)
        if base is None or expected is None:
            return
        done = set(acked)
        while base in done:
            base += 1
        if base < expected:
            self.held[tp] = base

    def rewinds(self) -> dict[Any, int]:
        """Where to seek the held partitions; from then on they expect those offsets."""
        held, self.held = self.held, {}
        self.next.update(held)
        return held

    def sought(self, tp: Any, start: int, flowing: bool = False) -> None:
        """The fetcher was positioned at ``start``. What was delivered while flow was active
        beyond it stays delivered; anything else is expected again from ``start``."""
        self.held.pop(tp, None)
        self.start[tp] = start
        if not flowing or self.next.get(tp, -1) < start:
            self.next[tp] = start

    def forget(self, tps: Any) -> None:
        for tp in tps:
            self.next.pop(tp, None)
            self.start.pop(tp, None)
            self.held.pop(tp, None)


def _consumer_init(orig: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self._read_offset = NoReadMark()
        self._fq_admission = admission = Admission()

        def on_clear() -> None:
            for tp in list(admission.next):
                admission.buffers_cleared(tp, self._acked.get(tp, ()), self._committed_offset[tp])

        listeners = getattr(self.app.flow_control, "fq_on_clear", None)
        if listeners is None:
            listeners = self.app.flow_control.fq_on_clear = []
        listeners.append(on_clear)

    return __init__


def _getmany(orig: Callable[..., Any]) -> Callable[..., Any]:
    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        admission: Admission = self._fq_admission
        is_changelog = self._is_changelog_tp
        flowing = self.app.flow_control.is_active

        async def rewind() -> None:
            assigned = self.assignment()
            moves = {tp: off for tp, off in admission.rewinds().items() if tp in assigned}
            if moves:
                await self.seek_wait(moves)

        if admission.held and flowing():
            await rewind()
        async for tp, message in orig(self, timeout):
            if is_changelog(tp):
                yield tp, message
                continue
            active = flowing()
            if active and admission.held:
                await rewind()
            if admission.admit(tp, message.offset, active):
                yield tp, message

    return getmany


def _flow_clear(orig: Callable[..., None]) -> Callable[..., None]:
    def clear(self: Any) -> None:
        orig(self)
        for listener in getattr(self, "fq_on_clear", ()):
            listener()

    return clear


def _on_revoked(orig: Callable[..., Any]) -> Callable[..., Any]:
    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        self._fq_admission.forget(revoked)
        await orig(self, revoked)

    return on_partitions_revoked


async def _perform_seek(self: Any) -> None:  # pragma: no cover - exercised in workers
    committed = await self.seek_to_committed()
    if not committed:
        return
    tps = [fc.ensure_TP(tp) for tp in committed if not self._is_changelog_tp(fc.ensure_TP(tp))]
    earliest = {fc.ensure_TP(tp): off for tp, off in (await self.earliest_offsets(*tps)).items()}
    moves: dict[TP, int] = {}
    for tp in tps:
        off = committed.get(tp)
        start = max(off or 0, earliest.get(tp) or 0)
        if start != off or not off:
            moves[tp] = start
        self._committed_offset[tp] = start
        self._fq_admission.sought(tp, start, self.app.flow_control.is_active())
    if moves:
        await self.seek_wait(moves)


async def _add_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
    log.debug(
        "not counting %s[%s] %s..%s as processed", tp.topic, tp.partition, offset_from, offset_to
    )


class _Rest:
    """The rest of a coroutine that has run up to its first suspension, where it yielded
    ``pending``: awaiting this finishes it (a task passes cancellation on to it)."""

    def __init__(self, coro: Any, pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Any:
        pending = self.pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # thrown in by the task: cancellation
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = self.coro.send(None)
            except StopIteration as stop:
                return stop.value


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - in workers
    """faust's fetch loop, delivering each record without a task when it can.

    faust hands every record to the streams with ``wait_first(callback(message),
    suspend_flow.wait())``: four tasks and an ``asyncio.wait`` per record, a third of the CPU
    of a worker that does nothing else. The callback only suspends when the stream's buffer is
    full or flow is suspended, so it is first run directly; only when it suspends does the
    rest of it run as a task raced against the flow being suspended, as in faust. No read mark
    and no gaps: ``Admission`` (in ``getmany``) decides what is delivered.
    """
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    yield_every, since_yield = 100, 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(fc.CONSUMER_FETCHING)
            ait = getmany(timeout=1.0)
            await self.sleep(0)  # getmany may return at once, again and again
            if self.should_stop:
                continue
            async for _tp, message in ait:
                since_yield += 1
                if since_yield > yield_every:
                    await asyncio.sleep(0)
                    since_yield = 0
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                coro = callback(message)
                try:
                    pending = coro.send(None)
                except StopIteration:
                    continue  # delivered without suspending: the usual case
                rest = asyncio.ensure_future(_Rest(coro, pending))
                await self.wait_first(rest, self.suspend_flow.wait())
            unset_flag(fc.CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(fc.CONSUMER_FETCHING)


def _fetch_settings(orig: Callable[..., Any]) -> Callable[..., Any]:
    """faust builds its aiokafka consumer with a fixed fetch wait (1.5 s) and aiokafka's
    minimum of one byte, so under steady traffic every fetch returns with the few records
    that have arrived, and a fetch for every partition the worker reads is encoded and
    decoded in Python each time: at 500 events/s the consumer's thread alone used 35 % of a
    core. ``app.fq_fetch = (min_bytes, max_wait_ms)`` lets the broker gather records for a
    few milliseconds instead; set by ``create_app`` from the settings."""

    def create(self: Any, transport: Any) -> Any:
        consumer = orig(self, transport)
        fetch = getattr(self.app, "fq_fetch", None)
        if fetch is not None:
            # read by AIOKafkaConsumer.start() when it builds its Fetcher
            consumer._fetch_min_bytes, consumer._fetch_max_wait_ms = fetch
        return consumer

    return create


def apply() -> None:
    """Install the fixes once per process (only the Cython iterator is in use here)."""
    global _PATCHED
    if _PATCHED or fs._CStreamIterator is None:
        return
    fs.Stream._c_aiter = _c_aiter  # type: ignore[method-assign]
    fc.Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    fc.Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    fc.Consumer._add_gap = _add_gap  # type: ignore[method-assign]
    fc.Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    fc.Consumer.__init__ = _consumer_init(fc.Consumer.__init__)  # type: ignore[method-assign]
    fc.Consumer.getmany = _getmany(fc.Consumer.getmany)  # type: ignore[method-assign]
    mq.FlowControlEvent.clear = _flow_clear(mq.FlowControlEvent.clear)  # type: ignore[method-assign]
    fc.Consumer.on_partitions_revoked = _on_revoked(  # type: ignore[method-assign]
        fc.Consumer.on_partitions_revoked
    )
    fa.AIOKafkaConsumerThread._create_worker_consumer = _fetch_settings(  # type: ignore[method-assign]
        fa.AIOKafkaConsumerThread._create_worker_consumer
    )
    _PATCHED = True


async def batches(stream: Any, max_size: int) -> AsyncIterator[list[Any]]:
    """The stream's events in batches: as many as are already buffered, at most ``max_size``.

    A batch is yielded as soon as the stream's buffer runs empty, so a lone event waits for
    nothing; under a backlog batches fill up. The events of a batch are acknowledged only when
    the caller asks for the next batch, i.e. after it has finished with this one; a batch
    interrupted by a stop or a crash is not acknowledged and is read again.
    """
    stream.enable_acks = False
    queue = getattr(stream.channel, "queue", None)
    batch: list[Any] = []
    async for event in stream.events():
        batch.append(event)
        if len(batch) >= max_size or queue is None or queue.empty():
            yield batch
            for done in batch:
                await stream.ack(done)
            batch = []
