"""How the kafka-python readers ask the broker for records: fuller fetches, shorter holds.

kafka-python keeps one fetch in flight per broker. Its defaults (``fetch_min_bytes`` 1,
``fetch_max_wait_ms`` 500) hurt a reader of many partitions twice:
- on a backlog, once some partitions are read to their end, a fetch that asks only for those
  is held by the broker for the whole 500 ms while the others wait their turn: reading a
  backlog of 66,894 records over 44 partitions took 0.84-1.84 s with them and 0.71-1.04 s
  with a 20-100 ms hold, on the same CPU (``docs/PERFORMANCE.md``, eleventh round);
- at a live rate every fetch comes back with the few records just arrived, and each one costs
  a request, a poll and the work after it for every partition: the case-store sink used
  41-42 % of a core at 500 events/s that way and 22-25 % with these.

``FULLER_FETCHES`` holds a fetch for at most 100 ms to gather 256 KiB. The sink takes the same
values from its settings (``sink_fetch_max_wait_ms``, ``sink_fetch_min_bytes``).
"""

from __future__ import annotations

FETCH_MAX_WAIT_MS = 100
FETCH_MIN_BYTES = 256 * 1024
FULLER_FETCHES: dict[str, int] = {
    "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    "fetch_min_bytes": FETCH_MIN_BYTES,
}
