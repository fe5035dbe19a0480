"""Group commit: calls made while one is running are served together by the next one.

Each database round trip (a key lookup, an idempotency read, an idempotency write) then serves
every request that arrived meanwhile, so the cost per request falls as load rises, while a
lone request still waits for just one round trip. A local database (SQLite) answers in tens of
microseconds, less than handing the call to a thread costs, so it is called on the loop itself,
once per loop iteration for everything submitted in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """``await submit(item)`` runs ``fn`` (in a thread) over all items queued meanwhile."""

    def __init__(self, fn: Callable[[list[T]], Sequence[R]], *, in_thread: bool = True) -> None:
        self._fn = fn
        self._in_thread = in_thread
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._scheduled = False

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, fut))
        if not self._in_thread:
            if not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._run_here)
        elif self._runner is None:
            self._runner = asyncio.create_task(self._drain())
        return await fut

    def _run_here(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        try:
            results = self._fn([item for item, _ in batch])
        except Exception as err:
            self._settle(batch, err)
        else:
            self._resolve(batch, results)

    @staticmethod
    def _settle(batch: list[tuple[T, asyncio.Future[R]]], err: Exception) -> None:
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(err)

    @staticmethod
    def _resolve(batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R]) -> None:
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await asyncio.to_thread(self._fn, [item for item, _ in batch])
                except Exception as err:  # every waiter of this round gets the error
                    self._settle(batch, err)
                    continue
                self._resolve(batch, results)
        finally:
            self._runner = None
