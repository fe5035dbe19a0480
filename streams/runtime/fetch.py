"""faust's fetch loop without its four tasks per record, and the consumer's fetch settings.

Delivery is the same as faust's (``Admission``, in ``offsets``, decides what reaches the
agents); only the cost per record changes: a third of a bare consumer's CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
import faust.transport.consumer as fc


class Rest:
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


async def drain_messages(self: Any, fetcher: Any) -> None:
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
                rest = asyncio.ensure_future(Rest(coro, pending))
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


def set_fetch(app: faust.App, min_bytes: int, max_wait_ms: int) -> None:
    """What ``with_fetch_settings`` gives the app's worker consumer."""
    app.fq_fetch = (min_bytes, max_wait_ms)  # type: ignore[attr-defined]


def with_fetch_settings(orig: Callable[..., Any]) -> Callable[..., Any]:
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
