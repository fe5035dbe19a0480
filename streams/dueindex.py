"""When each table row next needs looking at, so a tick looks at the rows that are due instead
of walking every row of its partition.

A tick used to look at every row of its partition: for the SLA clocks 6.6 ms per partition at
7,500 clocks on the development machine, ~90 ms at a province's 100,000 open cases, all of it
blocking the intake agent; the incident windows and risk rows the same way. ``DueIndex`` keeps,
per partition, a heap of (time, key): the earliest moment the row's state can change under its
table's tick, as the table's ``look`` function says (``streams.sladue``, ``streams.incidents``,
``streams.risk``). The heap is only a hint and may hold stale entries; a due entry makes the
tick *look at* the row, and the tick decides from the row itself, as before. So an entry too
early costs a look and an entry missing would lose an alert: every row written is noted again,
and the heap of a partition is built from the table's rows the first time a tick of it comes
(and again after a recovery or rebalance, ``invalidate``).

A row written again and again (a risk row takes every case of its street and category) would
leave an entry per write in the heap until its time comes, days later: a note is pushed only
when it is earlier than the row's earliest entry still in the heap, since that entry makes the
tick look at the row and note it again anyway.

Pure code: no faust, no Kafka.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

# how much earlier than its exact time a look function should name a row (``next_prune``,
# ``next_level_drop``): a look a second early costs a look; one a rounding error late would
# change the row a tick after a walk of every row does
LOOK_EARLY_S = 1.0

# the earliest timestamp at which the tick can change the row under this key; None: never
# without a new write
Look = Callable[[str, Any], float | None]


class DueIndex:
    """Per partition, the rows to check by when they are due (see the module docstring)."""

    def __init__(self, look: Look) -> None:
        self.look = look
        self._heaps: dict[int, list[tuple[float, str]]] = {}
        # per partition, each row's earliest time in the heap
        self._earliest: dict[int, dict[str, float]] = {}
        self.rebuilds = 0

    def invalidate(self) -> None:
        """Forget everything: the table's rows changed under the index (recovery, rebalance)."""
        self._heaps.clear()
        self._earliest.clear()

    def built(self, partition: int) -> bool:
        return partition in self._heaps

    def build(self, partition: int, rows: Iterable[tuple[str, Any]]) -> None:
        """Index ``partition`` from its rows in the table."""
        heap = [(t, key) for key, row in rows if (t := self.look(key, row)) is not None]
        heapq.heapify(heap)
        self._heaps[partition] = heap
        self._earliest[partition] = {key: t for t, key in heap}
        self.rebuilds += 1

    def note(self, partition: int, key: str, row: Any) -> None:
        """``row`` was written (or looked at): when to look at it next. Ignored while the
        partition is not built, since the build will read the row from the table."""
        heap = self._heaps.get(partition)
        if heap is None:
            return
        t = self.look(key, row)
        earliest = self._earliest[partition]
        if t is not None and t < earliest.get(key, float("inf")):
            heapq.heappush(heap, (t, key))
            earliest[key] = t

    def take_due(self, partition: int, at: float) -> list[str]:
        """The rows of ``partition`` due at ``at``, each once, taken off the heap: the caller
        checks them and notes each one again (``note``) with what the check left."""
        heap = self._heaps.get(partition)
        if not heap:
            return []
        earliest = self._earliest[partition]
        due: dict[str, None] = {}
        while heap and heap[0][0] <= at:
            t, key = heapq.heappop(heap)
            if earliest.get(key) == t:
                del earliest[key]
            due[key] = None
        return list(due)

    def size(self, partition: int) -> int:
        return len(self._heaps.get(partition, ()))


def note_all(
    index: DueIndex, partition: int, keys: Iterable[str], get: Callable[[str], Any]
) -> None:
    """Note each of ``keys`` again with its current row (``get``; ``None`` once deleted)."""
    for key in keys:
        index.note(partition, key, get(key))
