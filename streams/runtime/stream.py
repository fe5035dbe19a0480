"""Acknowledging stream events only once the agent is done with them.

faust's stream iterator acknowledged every message it took from the buffer, including those
skipped while flow control is suspended (a stop or a rebalance) and the one in flight when the
agent is cancelled. ``c_aiter`` acknowledges a message only when the agent asks for the next
one; ``batches`` does the same for the intake agent's batches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust.streams as fs


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
