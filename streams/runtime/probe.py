"""What the worker reports of the aiokafka producer's queues and faust's consumer when a
delivery is slow or on SIGUSR1: private attributes, read defensively (a missing one is
reported, not raised).

Only topic names, partitions, counts, ages and code locations: never a message's content.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


def producer_state(producer: Any) -> str:
    """One line on an aiokafka producer's accumulator and sender (private attributes, read
    defensively: a missing one is reported, not raised)."""
    parts: list[str] = []
    try:
        acc = producer._message_accumulator
        now = time.monotonic()
        queued = [
            f"{tp.topic}[{tp.partition}]:{len(batches)}b/{sum(b.record_count for b in batches)}r/"
            f"{now - batches[0]._ctime:.1f}s"
            for tp, batches in acc._batches.items()
            if batches
        ]
        pending = sorted(acc._pending_batches, key=lambda b: b._ctime)
        parts.append(f"queued={queued or 'none'}")
        parts.append(
            f"in_flight_batches={len(pending)}"
            + (
                f" (oldest {pending[0].tp.topic}[{pending[0].tp.partition}] "
                f"{now - pending[0]._ctime:.1f}s)"
                if pending
                else ""
            )
        )
        parts.append(f"waiter_set={acc._waiter_future.done()}")
        parts.append(f"wakeup_scheduled={acc._wakeup_handle is not None}")
        sender = producer._sender
        parts.append(f"in_flight_nodes={sorted(sender._in_flight)}")
        parts.append(f"muted={len(sender._muted_partitions)}")
        task = sender.sender_task
        parts.append("sender=" + ("none" if task is None else "done" if task.done() else "running"))
    except AttributeError as exc:  # another aiokafka version
        parts.append(f"(producer internals not readable: {exc})")
    return " ".join(parts)


def consumer_thread_loop(consumer: Any) -> asyncio.AbstractEventLoop | None:
    """The event loop of the thread faust reads Kafka in, if it runs."""
    loop = getattr(getattr(consumer, "_thread", None), "thread_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def producer_of(app: Any) -> Any:
    """The app's aiokafka producer; raises when it has none yet."""
    return app.producer._ensure_producer()


def consumer_state(consumer: Any) -> str:
    """faust's consumer: partitions assigned, active, paused (flow control) and buffered."""

    def tps(attr: str) -> str:
        value = getattr(consumer, attr, None)
        if value is None:
            return "?"
        return "[" + ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in value)) + "]"

    try:
        assigned = len(consumer.assignment())
    except Exception:  # not started, or another faust version
        assigned = -1
    return (
        f"assigned={assigned} active={tps('_active_partitions')} "
        f"paused={tps('_paused_partitions')} buffered={tps('_buffered_partitions')}"
    )


def _fetch_assignment(consumer: Any) -> Any:
    """The aiokafka consumer's assignment under faust's (None before the first one); raises
    ``AttributeError`` on another version."""
    return consumer._thread._consumer._subscription.subscription.assignment


def _partitions(consumer: Any, assignment: Any, changelogs: bool) -> list[tuple[Any, Any]]:
    """(partition, aiokafka's fetch state of it) for the changelog partitions of
    ``assignment``, or for the others, by topic and partition."""
    return [
        (tp, assignment.state_value(tp))
        for tp in sorted(assignment.tps, key=lambda tp: (tp.topic, tp.partition))
        if bool(consumer._is_changelog_tp(tp)) == changelogs
    ]


def _where(tp: Any, st: Any) -> str:
    """A partition's fetch position and the last high watermark the fetcher saw."""
    return f"{tp.topic}[{tp.partition}] pos={st._position} hw={st.highwater}"


def fetch_state(consumer: Any) -> str:
    """Per partition the worker streams from: the aiokafka consumer's fetch position and last
    known high watermark, and the offset ``offsets.Admission`` expects next (plus any held
    offset): a position past ``next`` with nothing held is a stalled partition."""
    try:
        assignment = _fetch_assignment(consumer)
        admission = consumer._fq_admission
    except AttributeError as exc:
        return f"(not readable: {exc})"
    if assignment is None:
        return "(no assignment)"
    rows = []
    for tp, st in _partitions(consumer, assignment, changelogs=False):
        row = _where(tp, st) + f" next={admission.next.get(tp)}"
        if tp in admission.held:
            row += f" held={admission.held[tp]}"
        if st.paused:
            row += " paused"
        rows.append(row)
    return f"dropped={admission.dropped} rewound={admission.rewound} " + "; ".join(rows)


def recovery_state(consumer: Any) -> str:
    """Per changelog partition the worker reads, while its tables recover: the aiokafka
    consumer's fetch position, last known high watermark, a pending offset reset and a pause,
    beside the offset recovery has read and the one it waits for. A partition whose position
    stays unknown, or stays below what recovery waits for, is the one recovery waits on."""
    try:
        assignment = _fetch_assignment(consumer)
        recovery = consumer.app.tables.recovery
        read, needed = recovery.active_offsets, recovery.active_highwaters
        recovering = bool(consumer.app.in_recovery)
    except AttributeError as exc:
        return f"(not readable: {exc})"
    if not recovering:
        return "(not recovering)"
    if assignment is None:
        return "(no assignment)"
    rows = []
    for tp, st in _partitions(consumer, assignment, changelogs=True):
        row = _where(tp, st)
        if tp in needed:
            row += f" read={read.get(tp)} needs={needed.get(tp)}"
        if st._reset_strategy is not None:
            row += f" reset={st._reset_strategy}"
        if st.paused:
            row += " paused"
        rows.append(row)
    return "; ".join(rows) or "(no changelog partitions)"
