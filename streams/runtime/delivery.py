"""faust's per-record hand-over to the streams, without work that does nothing here.

For every record faust's conductor awaits the producer buffer's ``wait_until_ebb`` and the
topic schema's compiled ``decode``. The worker reads its topics as raw bytes (it validates
them itself) and never fills faust's producer buffer, yet each call went through the codec
registry twice and the app's settings registry: 5 % of the worker's CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def with_raw_decode(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``Schema.compile``: a schema with raw keys and values and no types decodes a
    record to the event faust's would make (the same ``app.create_event`` call with the
    record's own key, value and headers: the raw codec returns bytes as they are), without
    the codec registry. Every other schema compiles as before."""

    def compile(self: Any, app: Any, **kwargs: Any) -> Any:
        if not (
            self.key_serializer == "raw"
            and self.value_serializer == "raw"
            and self.key_type is None
            and self.value_type is None
        ):
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
        queue = self.queue if self.queue is not None else self.pending
        if queue is None or not queue._queue:
            return
        await original(self)

    wait_until_ebb.__wrapped__ = original  # type: ignore[attr-defined]
    return wait_until_ebb
