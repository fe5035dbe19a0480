"""The aiokafka producer under faust's, and keeping a topic in its metadata.

The worker sends straight to it: faust's per-message send path (futures, buffers, sensors;
none used here) cost more than the rest of the send.
"""

from __future__ import annotations

from typing import Any

import faust


def kafka_producer(app: faust.App) -> Any:
    """The aiokafka producer under faust's (started by faust with the app)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def track_topic(producer: Any, name: str) -> None:
    """Have the aiokafka producer keep ``name`` in its metadata: call before sending to it.

    The producer starts tracking no topic, and a metadata refresh then asks for all of them;
    sending to a topic it knows so does not track it. The first send to a topic it does not
    know yet (a changelog faust just created) tracks that one, and from then on every refresh
    asks for the tracked topics only and forgets the rest. A batch queued for a forgotten
    topic then waits for a leader until its TTL (faust: 1,200 s): a worker stalled so in CI
    (``tests/real/test_producer_metadata_kafka.py`` shows it on a real broker)."""
    client = producer.client
    if name not in client._topics:
        client.add_topic(name)


def with_idempotence(original: Any) -> Any:
    """Wrap faust's ``Producer._settings_extra`` so every aiokafka producer it makes is
    idempotent with acks=all: a retried batch then cannot be written twice. faust has no
    public setting for it; it sets both only for exactly-once transactions."""

    def settings_extra(self: Any) -> Any:
        return {**original(self), "acks": "all", "enable_idempotence": True}

    return settings_extra
