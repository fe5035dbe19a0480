"""A changelog partition that table recovery waits on and never gets: read again.

On the three-broker cluster, a worker that was given its partitions again after another
was killed in the rebalance waited in table recovery for good on a few changelog partitions
while the others recovered in under a second (``intake-links-changelog[2]``,
``risk-changelog[0]`` and ``sla-clocks-changelog[2]``: recovery had read nothing of them).
Its SIGUSR1 dump showed aiokafka's fetch position of each at the log's end: the records had
been fetched and had never reached recovery, which nothing then fetches again. Nothing flows
while the tables recover, so every stream partition of that worker waited too (upstream
reports of the same hang: faust-streaming #74, robinhood/faust #542).

A way to lose them is in faust's ``Consumer.getmany``: it drops every record of a fetch that
returns while the consumer's flow is stopped, changelog records included. With logging added
there, a worker in a rebalance dropped 818 changelog records so, between the assignment and
recovery's seek, which fetched them again. A fetch returning between that seek and the
resumed flow would lose them for good; the stuck run was not caught with that logging on.

``check`` keeps, per active changelog partition recovery still waits on, since when the
offset recovery has read stayed the same (``stalls.StallWatch``). One that stood still for
``RECOVERY_STALL_S`` is made fetchable again and its fetcher sought to the first offset not
read. Recovery applies only offsets past what it has read, so records fetched twice change
nothing; a table row is its last changelog record.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.runtime.stalls import StallWatch

log = logging.getLogger("fengqiao.worker.recovery")

RECOVERY_STALL_S = 20.0  # a changelog partition recovery waits on, read nothing of this long


def waiting(read: Any, needed: Any) -> dict[Any, tuple[int, int]]:
    """The partitions of recovery's ``needed`` (the last offset of each changelog partition
    when recovery began) not read up to it: partition -> (offset read, offset needed). An
    offset read of -1 means nothing read yet; a partition empty when recovery began needs -1."""
    out: dict[Any, tuple[int, int]] = {}
    for tp, need in needed.items():
        have = read.get(tp)
        if need is None or have is None or need < 0 or have >= need:
            continue
        out[tp] = (have, need)
    return out


async def check(app: Any, watch: StallWatch, now: float) -> list[Any]:
    """Seek again every active changelog partition of faust's ``app`` that recovery has read
    nothing more of for the watch's stall time; the partitions sought. Nothing is watched
    when the tables are not recovering."""
    if not app.in_recovery:
        watch.forget()
        return []
    recovery = app.tables.recovery
    wait = waiting(recovery.active_offsets, recovery.active_highwaters)
    generation = app.consumer_generation_id
    marks = {tp: (generation, have) for tp, (have, _need) in wait.items()}
    standing = watch.standing(marks, now)
    if not standing:
        return []
    consumer = app.consumer
    moves = {tp: wait[tp][0] + 1 for tp in standing}
    for tp in standing:
        have, need = wait[tp]
        log.warning(
            "%s[%s]: table recovery has read nothing more for %.0f s (read %d, needs %d): "
            "reading again from %d",
            tp.topic,
            tp.partition,
            watch.stall_s,
            have,
            need,
            moves[tp],
        )
        watch.restart(tp, now)
    consumer.resume_partitions(standing)
    await consumer.seek_wait(moves)
    return standing
