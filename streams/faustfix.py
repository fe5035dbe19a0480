"""A fix for faust-streaming's stream iterator: never acknowledge a message that was not processed.

faust 0.15 acknowledges (and so later commits) two kinds of messages it never handed to the
agent body to completion: messages skipped while flow control is suspended (a stop or a
rebalance) and the message in flight when the agent is cancelled. A stop in mid-stream then
loses every message that sat in the stream's buffer. Here a message is acknowledged only when
the agent asked for the next one, i.e. finished with it; the others stay uncommitted and are
read again by whichever worker owns the partition next (at-least-once, as DESIGN.md promises).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust.streams as fs

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


def apply() -> None:
    """Install the fix once per process (only the Cython iterator is in use here)."""
    global _PATCHED
    if _PATCHED or fs._CStreamIterator is None:
        return
    fs.Stream._c_aiter = _c_aiter  # type: ignore[method-assign]
    _PATCHED = True
