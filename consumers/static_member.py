"""A kafka-python consumer with static membership that asks to rejoin while it holds no
partitions of topics that have them, so a stale empty assignment cannot last.

Why: a static member that comes back within its session timeout gets, from the broker, the
assignment its previous incarnation held, and (before JoinGroup v9, which kafka-python does not
speak) is not told that it leads the group. If that earlier assignment was empty (the leader
had no topic metadata yet), the client never rebalances by itself: its partitions stay
unconsumed for good. A JoinGroup with the member id it now holds makes the broker rebalance
when that member leads, and costs nothing when it is a follower.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StaticMember:
    """Wrap a subscribed ``KafkaConsumer``; ``poll`` also asks for a rejoin, backing off from
    ``first_s`` to ``max_s`` between requests, while the assignment is empty and a subscribed
    topic has partitions. Everything else is the consumer's own."""

    def __init__(
        self,
        consumer: Any,
        *,
        first_s: float = 5.0,
        max_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._first_s = first_s
        self._max_s = max_s
        self._clock = clock
        self._wait_s = first_s
        self._next = clock() + first_s  # the first join itself takes a moment

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        records = self._consumer.poll(*args, **kwargs)
        self._check()
        return records

    def _check(self) -> None:
        if self._consumer.assignment():
            self._wait_s = self._first_s
            return
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._wait_s
        self._wait_s = min(self._wait_s * 2, self._max_s)
        topics = sorted(self._consumer.subscription() or ())
        # the metadata the consumer already has: its public partitions_for_topic fetches
        # unknown topics with no time limit, which would stall the poll loop in an outage
        cluster = self._consumer._cluster
        if not any(cluster.partitions_for_topic(t) for t in topics):
            return  # nothing to be assigned yet: an empty assignment is right
        log.warning("static member holds no partitions of topics that have them; asking to rejoin")
        # kafka-python has no public call for this either; request_rejoin only sets a flag
        # that the next poll acts on, with the member id the consumer holds
        self._consumer._coordinator.request_rejoin()
