"""faust's per-record hand-over to the streams, without work that does nothing here.

For every record faust's conductor awaits the producer buffer's ``wait_until_ebb`` and the
topic schema's compiled ``decode``. The worker reads its topics as raw bytes (it validates
them itself) and never fills faust's producer buffer, yet each call went through the codec
registry twice and the app's settings registry: 5 % of the worker's CPU.

Then, for a partition that one raw-bytes channel reads (every partition the worker reads),
the hand-over itself: faust took an asyncio lock to find the partition's handler, and the
handler awaited three coroutines and built two collections per record for any number of
channels. ``with_unlocked_lookup`` and ``with_lean_handler`` do the same steps directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_raw(schema: Any) -> bool:
    """A schema of raw keys and values and no types: a record's event is its own bytes."""
    return bool(
        schema.key_serializer == "raw"
        and schema.value_serializer == "raw"
        and schema.key_type is None
        and schema.value_type is None
    )


def with_raw_decode(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``Schema.compile``: a schema with raw keys and values and no types decodes a
    record to the event faust's would make (the same ``app.create_event`` call with the
    record's own key, value and headers: the raw codec returns bytes as they are), without
    the codec registry. Every other schema compiles as before."""

    def compile(self: Any, app: Any, **kwargs: Any) -> Any:
        if not is_raw(self):
            return original(self, app, **kwargs)
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode

    compile.__wrapped__ = original  # type: ignore[attr-defined]
    return compile


def with_cheap_ebb(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``ProducerBuffer.wait_until_ebb``: return at once while faust's own producer
    buffer is empty (the worker sends to the aiokafka producer directly and leaves it empty),
    else wait as faust does. faust's check read the buffer's size through the settings
    registry for every record."""

    async def wait_until_ebb(self: Any) -> None:
        if buffer_empty(self):
            return
        await original(self)

    wait_until_ebb.__wrapped__ = original  # type: ignore[attr-defined]
    return wait_until_ebb


def buffer_empty(buffer: Any) -> bool:
    """faust's producer buffer holds nothing (the worker never sends through it)."""
    queue = buffer.queue if buffer.queue is not None else buffer.pending
    return queue is None or not queue._queue


def with_unlocked_lookup(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``Conductor._compile_message_handler``: the partition's handler is looked up
    without taking the lock while nobody holds it (the lock only guards the rebuild of the
    handlers on a subscription change, and nothing else runs between the test and the
    lookup); while it is held, or for a partition without a handler, as faust does."""

    def compile(self: Any) -> Any:
        if self.app.client_only:
            return original(self)
        lock = self._tp_to_callback_lock
        callbacks = self._tp_to_callback

        async def on_message(message: Any) -> Any:
            if not lock.locked():
                callback = callbacks.get(message.tp)
                if callback is not None:
                    return await callback(message)
            async with lock:
                callback = callbacks[message.tp]
            return await callback(message)

        return on_message

    compile.__wrapped__ = original  # type: ignore[attr-defined]
    return compile


def with_lean_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``ConductorCompiler.build``: a partition that one raw-bytes channel reads gets a
    handler doing faust's steps for one channel and a decode that cannot fail: wait while flow
    is stopped or faust's producer buffer is full, count the channel's reference, make the
    event, queue it (or wait for room, as faust does when the queue is full). Any other
    partition keeps faust's handler. faust builds the handlers again whenever the channels of a
    partition change, so the one channel seen here stays the only one."""

    def build(self: Any, conductor: Any, tp: Any, channels: Any) -> Any:
        handler = original(self, conductor, tp, channels)
        if len(channels) != 1:
            return handler
        (chan,) = channels
        schema = getattr(chan, "schema", None)
        if schema is None or not is_raw(schema):
            return handler
        return lean_handler(conductor.app, tp, chan)

    build.__wrapped__ = original  # type: ignore[attr-defined]
    return build


def lean_handler(app: Any, tp: Any, chan: Any) -> Callable[[Any], Any]:
    flow = app.flow_control
    buffer = app.producer.buffer
    create_event = app.create_event
    on_topic_buffer_full = app.sensors.on_topic_buffer_full
    consumer = app.consumer

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    async def on_message(message: Any) -> None:
        if not flow.is_active():
            await flow.acquire()
        if not buffer_empty(buffer):
            await buffer.wait_until_ebb()
        message.incref(1)
        event = create_event(message.key, message.value, message.headers, message)
        queue = chan.queue
        if queue.full():
            on_topic_buffer_full(tp)
            await chan.put(event)
            return
        queue.put_nowait_enhanced(
            event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop
        )

    return on_message
