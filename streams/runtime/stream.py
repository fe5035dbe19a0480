"""Acknowledging stream events only once the agent is done with them.

faust's stream iterator acknowledged every message it took from the buffer, including those
skipped while flow control is suspended (a stop or a rebalance) and the one in flight when the
agent is cancelled. ``c_aiter`` acknowledges a message only when the agent asks for the next
one; ``batches`` does the same for the agents' batches.

``batches`` takes a batch's first event through the stream's iterator (which waits, starts the
stream and skips what flow control stopped) and the rest of what is buffered straight from the
channel's queue (``take_buffered``): the iterator yields to the event loop once per event and
calls the sensors twice, which cost more than the agent's own work on some events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import faust.streams as fs
from faust.types import EventT


async def c_aiter(self: Any) -> AsyncIterator[Any]:
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


class InFlight:
    """The delivery of the batch ``batches`` last yielded, handed back by the agent: the
    batch is then acknowledged once that delivery is done, while the agent works on the
    next batch."""

    def __init__(self) -> None:
        self._delivery: Awaitable[Any] | None = None

    def put(self, delivery: Awaitable[Any]) -> None:
        self._delivery = delivery

    def take(self) -> Awaitable[Any] | None:
        delivery, self._delivery = self._delivery, None
        return delivery


async def batches(
    stream: Any, max_size: int, in_flight: InFlight | None = None
) -> AsyncIterator[list[Any]]:
    """The stream's events in batches: as many as are already buffered, at most ``max_size``.

    A batch is yielded as soon as the stream's buffer runs empty, so a lone event waits for
    nothing; under a backlog batches fill up. The events of a batch are acknowledged only when
    the caller asks for the next batch, i.e. after it has finished with this one; a batch
    interrupted by a stop or a crash is not acknowledged and is read again.

    With ``in_flight``, an agent that has queued a batch's output without waiting for the
    broker hands back the wait (``in_flight.put``): the batch is acknowledged when that wait
    is done, in order, while the agent already works on the next batch. One batch at most is
    in flight so: before the next is handed back, the one before must be delivered. A failed
    delivery raises here and stops the agent with the batch unacknowledged.
    """
    stream.enable_acks = False
    queue = getattr(stream.channel, "queue", None)
    batch: list[Any] = []
    acking: asyncio.Future[None] | None = None
    try:
        async for event in stream.events():
            batch.append(event)
            if queue is not None:
                take_buffered(stream, queue, batch, max_size)
            if len(batch) >= max_size or queue is None or queue.empty():
                yield batch
                delivery = in_flight.take() if in_flight is not None else None
                if acking is not None:
                    await acking  # the batch before: delivered and acknowledged (or raises)
                    acking = None
                if delivery is None:
                    await _ack(stream, batch)
                else:
                    acking = asyncio.ensure_future(_ack_after(stream, batch, delivery))
                batch = []
    finally:
        if acking is not None and not acking.done():
            acking.cancel()  # stopped: the batch in flight is not acknowledged, read again


def take_buffered(stream: Any, queue: Any, batch: list[Any], max_size: int) -> None:
    """Move what the channel's queue holds into ``batch``, up to ``max_size`` events, as the
    stream's iterator would deliver them but without a turn of the event loop per event.

    An event fetched before flow control stopped, or in an earlier generation of the group,
    is dropped unacknowledged, as the iterator skips it (``offsets.Admission`` fetches it
    again); an event of an acknowledged topic is tracked as unacknowledged, so a rebalance
    waits for it. Anything in the queue that is not an event stays there for the iterator.
    """
    app = stream.app
    flowing = app.flow_control.is_active
    acking = app.topics._acking_topics
    unacked = app.consumer._unacked_messages
    get, empty = queue.get_nowait, queue.empty
    while len(batch) < max_size and not empty():
        items = queue._queue
        if items and not isinstance(items[0], EventT):
            return  # a value sent to a channel: the iterator handles it
        event = get()  # raises what was thrown into the queue, as the iterator does
        message = event.message
        if not flowing() or message.generation_id != app.consumer_generation_id:
            continue
        if message.topic in acking and not message.tracked:
            message.tracked = True
            unacked.add(message)
        stream.events_total += 1
        batch.append(event)


async def _ack(stream: Any, batch: list[Any]) -> None:
    # what Stream.ack does but for the sensors' calls, which do nothing here
    for done in batch:
        done.ack()


async def _ack_after(stream: Any, batch: list[Any], delivery: Awaitable[Any]) -> None:
    await delivery
    await _ack(stream, batch)
