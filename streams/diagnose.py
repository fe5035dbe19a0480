"""What the worker logs when a batch's delivery is slow (the aiokafka producer's queues) and
on SIGUSR1 (those, and every thread's and task's stack).

Only topic names, partitions, counts, ages and code locations: never a message's content.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
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


def stacks(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """Every thread's stack and every asyncio task's (of ``loop``, by default the running
    one): files, lines and functions only, never local variables, which can hold events."""
    lines: list[str] = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        lines.append(f"thread {names.get(ident, ident)}:")
        lines.extend(_frames(traceback.extract_stack(frame)))
    lines.extend(_tasks(loop))
    return "\n".join(lines)


def _tasks(loop: asyncio.AbstractEventLoop | None, label: str = "task") -> list[str]:
    lines: list[str] = []
    try:
        tasks = asyncio.all_tasks(loop)
    except RuntimeError:  # no running loop, or changed while read from another thread
        return lines
    for task in sorted(tasks, key=lambda t: t.get_name()):
        coro = task.get_coro()
        lines.append(f"{label} {task.get_name()} ({getattr(coro, '__qualname__', coro)}):")
        lines.extend(
            _frames(traceback.StackSummary.extract((f, f.f_lineno) for f in task.get_stack()))
        )
        lines.extend(_awaiting(coro))
    return lines


def _frames(summary: traceback.StackSummary) -> list[str]:
    return [f"  {f.filename}:{f.lineno} {f.name}" for f in summary]


def _awaiting(coro: Any) -> list[str]:
    """The chain of what a suspended coroutine awaits, below its own frame."""
    out: list[str] = []
    inner = getattr(coro, "cr_await", None)
    depth = 0
    while inner is not None and depth < 30:
        code = getattr(inner, "cr_code", None) or getattr(inner, "gi_code", None)
        if code is not None:
            frame = getattr(inner, "cr_frame", None) or getattr(inner, "gi_frame", None)
            line = frame.f_lineno if frame is not None else code.co_firstlineno
            out.append(f"  awaits {code.co_filename}:{line} {code.co_qualname}")
        else:
            out.append(f"  awaits {type(inner).__name__}")
            break
        inner = getattr(inner, "cr_await", None) or getattr(inner, "gi_yieldfrom", None)
        depth += 1
    return out


def dump(app: Any) -> str:
    """Every thread's and task's stack, then the producer's queues: what the worker logs on
    SIGUSR1."""
    text = stacks()
    consumer = getattr(app, "consumer", None)
    # faust reads Kafka in a thread with its own event loop
    thread_loop = getattr(getattr(consumer, "_thread", None), "thread_loop", None)
    if isinstance(thread_loop, asyncio.AbstractEventLoop):
        text += "\n" + "\n".join(_tasks(thread_loop, "consumer thread task"))
    text += "\nconsumer: " + consumer_state(consumer)
    text += "\nfetch: " + fetch_state(consumer)
    try:
        producer = app.producer._ensure_producer()
        state = producer_state(producer)
    except Exception as exc:  # not started yet
        state = f"(no producer: {type(exc).__name__})"
    return f"{text}\nproducer: {state}"


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


def fetch_state(consumer: Any) -> str:
    """Per partition the worker streams from: the aiokafka consumer's fetch position and last
    known high watermark, and the offset ``faustfix.Admission`` expects next (plus any held
    offset): a position past ``next`` with nothing held is a stalled partition."""
    try:
        client = consumer._thread._consumer
        assignment = client._subscription.subscription.assignment
        admission = consumer._fq_admission
    except AttributeError as exc:
        return f"(not readable: {exc})"
    if assignment is None:
        return "(no assignment)"
    rows = []
    for tp in sorted(assignment.tps, key=lambda tp: (tp.topic, tp.partition)):
        if consumer._is_changelog_tp(tp):
            continue
        st = assignment.state_value(tp)
        pos = st._position
        row = f"{tp.topic}[{tp.partition}] pos={pos} hw={st.highwater}"
        row += f" next={admission.next.get(tp)}"
        if tp in admission.held:
            row += f" held={admission.held[tp]}"
        if st.paused:
            row += " paused"
        rows.append(row)
    return f"dropped={admission.dropped} " + "; ".join(rows)
