"""Fixes for faust-streaming 0.15's offset bookkeeping: never commit past a message not processed.

Four defects, each of which lost intake messages when a worker stopped or the group rebalanced
under load (``tests/test_rebalance.py`` reproduced them; they are fixed here, not worked around):

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
4. The fetch loop records a message as read even when flow control stopped it from being
   delivered (during a rebalance); after the seek back to the committed offset, the messages
   read again below that mark were dropped as already seen, and the partition stalled. Here
   the read mark moves only while messages can flow, or by a seek.
5. ``Consumer._add_gap`` counted every offset the fetcher jumped over as acknowledged. Gaps
   are real only in compacted or transactional topics, which no agent here reads; a jump in
   these topics means messages were skipped, so it is no longer counted as processed.

What is not acknowledged stays uncommitted and is read again by whichever worker owns the
partition next (at-least-once, as DESIGN.md promises); every output carries a deterministic id
so sinks drop the repeat.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust.streams as fs
import faust.transport.consumer as fc
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


class ReadOffsets(defaultdict[Any, int | None]):
    """``Consumer._read_offset`` that ignores the fetch loop's writes while flow is stopped."""

    def __init__(self, flowing: Callable[[], bool]) -> None:
        super().__init__(lambda: None)
        self.flowing = flowing

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if self.flowing():
            super().__setitem__(tp, offset)

    def force(self, tp: Any, offset: int | None) -> None:
        super().__setitem__(tp, offset)


def _consumer_init(orig: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self._read_offset = ReadOffsets(lambda: bool(self.flow_active))

    return __init__


async def _perform_seek(self: Any) -> None:  # pragma: no cover - exercised in workers
    committed = await self.seek_to_committed()
    if not committed:
        return
    tps = [fc.ensure_TP(tp) for tp in committed]
    earliest = {fc.ensure_TP(tp): off for tp, off in (await self.earliest_offsets(*tps)).items()}
    for tp, off in committed.items():
        tp = fc.ensure_TP(tp)
        start = max(off or 0, earliest.get(tp) or 0)
        if start != off or not off:
            await self.seek(tp, start)
        self._committed_offset[tp] = start
        read = self._read_offset
        if isinstance(read, ReadOffsets):
            read.force(tp, start if start else None)
        else:
            read[tp] = start if start else None
    log.debug(
        "positions after seek: %s",
        {f"{tp.topic}[{tp.partition}]": o for tp, o in self._committed_offset.items()},
    )


async def _add_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
    log.debug(
        "not counting %s[%s] %s..%s as processed", tp.topic, tp.partition, offset_from, offset_to
    )


def apply() -> None:
    """Install the fixes once per process (only the Cython iterator is in use here)."""
    global _PATCHED
    if _PATCHED or fs._CStreamIterator is None:
        return
    fs.Stream._c_aiter = _c_aiter  # type: ignore[method-assign]
    fc.Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    fc.Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    fc.Consumer._add_gap = _add_gap  # type: ignore[method-assign]
    fc.Consumer.__init__ = _consumer_init(fc.Consumer.__init__)  # type: ignore[method-assign]
    _PATCHED = True
