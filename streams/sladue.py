"""When an SLA row next needs looking at: its due index (``streams.dueindex``) lets a tick
check only the clocks that can warn, breach or be forgotten now.

Pure code: no faust, no Kafka.
"""

from __future__ import annotations

from typing import Any

from streams.dueindex import DueIndex
from streams.sla import SlaConfig


def next_look(row: Any, cfg: SlaConfig) -> float | None:
    """The earliest timestamp at which ``SlaClocks.check`` can act on ``row``: a running
    clock's warning (if not yet warned) or deadline, or, for a finished case, when it is
    forgotten. ``None`` when nothing will ever happen to it without a new write."""
    if not isinstance(row, dict):
        return None
    times: list[float] = []
    done = row.get("done_at")
    if done is not None:
        times.append(float(done) + cfg.retention.total_seconds())
    if row.get("routed"):
        for c in (row.get("clocks") or {}).values():
            if c.get("state") != "running":
                continue
            start, due = float(c["start"]), float(c["due"])
            if c.get("warned"):
                times.append(due)
            else:
                # the same threshold check() uses: frac >= warn_fraction, frac over max(1, period)
                times.append(min(due, start + cfg.warn_fraction * max(1.0, due - start)))
    return min(times) if times else None


def sla_due_index(cfg: SlaConfig) -> DueIndex:
    """The SLA table's due index."""
    return DueIndex(lambda _key, row: next_look(row, cfg))
