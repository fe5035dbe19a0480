"""A partition that nobody works on while it has records to do: found and read again.

On the three-broker cluster, after a rebalance during a broker outage on a loaded machine, a
partition could stop for good: assigned to a worker that neither fetched it nor had anything
of it in flight, its committed offset behind the log's end (``intake.petitions[3]`` 97 of 187
for minutes, while the other partitions flowed).

``StallWatch`` keeps, per partition, since when nothing about it has moved: the log end the
fetcher last saw (so an idle partition that just got records is not taken for a stalled
one), the offset the agents need next, the committed offset, the acknowledged offsets not
yet committed and whether a message of it is in flight. ``check`` asks the broker for the
log end of the partitions that stood still for ``stall_s`` with nothing in flight (those
the fetcher last saw at their end only every 30 s: that news is stale for a partition it no
longer fetches, and an idle worker should not ask every five seconds); each that
has records past the first offset not done is made fetchable again and its fetcher rewound
to that offset. What follows it is read again (at-least-once; every output carries a
deterministic id, so the sinks drop repeats).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.runtime.offsets import STALL_S

log = logging.getLogger("fengqiao.worker.offsets")

ASK_ALL_S = 30.0


def resume_from(committed: int | None, expected: int | None) -> int | None:
    """The first offset of a partition not done: the committed one when known (what lies
    between it and the expected one was delivered but never acknowledged), else the one the
    agents expect next; None when neither is known."""
    return committed if committed is not None else expected


@dataclass
class _Still:
    mark: tuple[Any, ...]
    since: float


class StallWatch:
    """Since when each watched partition's mark has stayed the same."""

    def __init__(self, stall_s: float = STALL_S) -> None:
        self.stall_s = stall_s
        self.still: dict[Any, _Still] = {}
        self.asked_all = -1e9  # when the broker was last asked about every standing partition

    def standing(self, marks: Mapping[Any, tuple[Any, ...]], now: float) -> list[Any]:
        """The partitions of ``marks`` whose mark has not changed for ``stall_s``; the
        partitions not in ``marks`` are forgotten."""
        for tp in [tp for tp in self.still if tp not in marks]:
            del self.still[tp]
        out = []
        for tp, mark in marks.items():
            seen = self.still.get(tp)
            if seen is None or seen.mark != mark:
                self.still[tp] = _Still(mark, now)
            elif now - seen.since >= self.stall_s:
                out.append(tp)
        return out

    def restart(self, tp: Any, now: float) -> None:
        """A partition was rewound: it gets ``stall_s`` again before the next rewind."""
        if tp in self.still:
            self.still[tp].since = now

    def forget(self) -> None:
        self.still.clear()


def _may_lag(consumer: Any, admission: Any, tp: Any) -> bool:
    """Whether the fetcher's news says the broker is worth asking now: it has not heard of
    the log end, or heard of records past the first offset not done."""
    start = resume_from(consumer._committed_offset.get(tp), admission.next.get(tp))
    seen = consumer.highwater(tp)
    return start is None or seen is None or seen > start


async def check(consumer: Any, watch: StallWatch, now: float) -> list[Any]:
    """Rewind every partition of faust's ``consumer`` that stood still for ``stall_s`` with
    records to do; the partitions rewound. Nothing is watched while flow is suspended or the
    tables recover (a rebalance: partitions are meant to stand still then)."""
    app = consumer.app
    if app.in_recovery or not app.flow_control.is_active() or not consumer.flow_active:
        watch.forget()
        return []
    admission = consumer._fq_admission
    in_flight = {m.tp for m in list(consumer._unacked_messages)}
    generation = app.consumer_generation_id
    marks: dict[Any, tuple[Any, ...]] = {}
    for tp in consumer.assignment():
        if consumer._is_changelog_tp(tp):
            continue
        marks[tp] = (
            generation,
            consumer.highwater(tp),  # the fetcher's last news of the log end: records came
            admission.next.get(tp),
            consumer._committed_offset.get(tp),
            len(consumer._acked.get(tp, ())),
            tp in in_flight,
        )
    standing = [tp for tp in watch.standing(marks, now) if tp not in in_flight]
    if not standing:
        return []
    # the fetcher's news of the log end is stale for a partition it no longer fetches:
    # those it shows at their end are asked about too, but only every ASK_ALL_S
    if now - watch.asked_all >= ASK_ALL_S:
        watch.asked_all = now
    else:
        standing = [tp for tp in standing if _may_lag(consumer, admission, tp)]
    if not standing:
        return []
    ends = await consumer.highwaters(*standing)
    rewound = []
    for tp in standing:
        start = resume_from(consumer._committed_offset.get(tp), admission.next.get(tp))
        end = ends.get(tp)
        if start is None or end is None or end <= start:
            continue
        log.warning(
            "%s[%s]: nothing done for %.0f s while offsets %d to %d wait; reading again "
            "from %d (the agents expected %s)",
            tp.topic,
            tp.partition,
            watch.stall_s,
            start,
            end - 1,
            start,
            admission.next.get(tp),
        )
        consumer._paused_partitions.discard(tp)
        consumer._buffered_partitions.discard(tp)
        consumer._get_active_partitions().add(tp)
        admission.held[tp] = start  # the fetch loop seeks there and expects it next
        admission.rewound += 1  # one count with Admission's own rewinds (SIGUSR1 shows it)
        watch.restart(tp, now)
        rewound.append(tp)
    return rewound
