"""What the worker logs on SIGUSR1: every thread's and task's stack, and the producer's and
consumer's state (read by ``streams.runtime.probe``).

Only topic names, partitions, counts, ages and code locations: never a message's content.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from typing import Any

from streams.runtime.probe import (
    consumer_state,
    consumer_thread_loop,
    fetch_state,
    producer_of,
    producer_state,
    recovery_state,
)

__all__ = ["consumer_state", "dump", "producer_state", "stacks"]


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
    thread_loop = consumer_thread_loop(consumer)
    if thread_loop is not None:
        text += "\n" + "\n".join(_tasks(thread_loop, "consumer thread task"))
    text += "\nconsumer: " + consumer_state(consumer)
    text += "\nfetch: " + fetch_state(consumer)
    text += "\nrecovery: " + recovery_state(consumer)
    try:
        producer = producer_of(app)
        state = producer_state(producer)
    except Exception as exc:  # not started yet
        state = f"(no producer: {type(exc).__name__})"
    return f"{text}\nproducer: {state}"
