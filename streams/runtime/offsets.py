"""The worker's offset bookkeeping: never commit past a message not processed.

Faust 0.15 loses or stalls intake messages when a worker stops or the group rebalances under
load; ``tests/real/test_rebalance.py`` and the restart tests reproduced each defect, and
``patches.PATCHES`` names them with their upstream issues. The rules are here:

- ``new_offset``, the commit rule: a commit moves only over a run of acknowledged offsets that
  starts exactly at the committed offset (faust compared off by one, and not at all when the
  committed offset was 0 or unknown, so the first unacknowledged message was committed over);
- ``Admission``: each stream partition delivers strictly in offset order from its position,
  so records fetched before a seek can neither run ahead of it nor repeat, and what flow
  control cleared is fetched again;
- the consumer methods that apply them (``perform_seek`` to the committed or earliest offset,
  no gaps counted as processed, ``getmany`` through ``Admission``).

What is not acknowledged stays uncommitted and is read again by whichever worker owns the
partition next (at-least-once); every output carries a deterministic id so sinks drop repeats.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust.transport.consumer as fc
from faust.types import TP
from faust.utils.functional import consecutive_numbers

log = logging.getLogger("fengqiao.worker.offsets")


def new_offset(acked: list[int], committed: int | None) -> tuple[int | None, int]:
    """The offset to commit given the acknowledged offsets (sorted in place) and the committed
    one, and how many acknowledged offsets that commit covers (to drop from ``acked``).

    Only a run of consecutive offsets starting exactly at ``committed`` can be committed; when
    the committed offset is not known yet nothing is.
    """
    if not acked or committed is None:
        return None, 0
    acked.sort()
    if acked[0] > committed:
        return None, 0
    batch = next(consecutive_numbers(acked))
    return batch[-1] + 1, len(batch)


class NoReadMark(dict[Any, int | None]):
    """``Consumer._read_offset`` that never holds a mark, so the fetch loop drops nothing and
    sees no gaps; ``Admission`` decides which records reach the agents instead."""

    def __getitem__(self, tp: Any) -> None:
        return None

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        pass


STALL_S = 10.0  # nothing done this long with records waiting: a partition has stalled


class Admission:
    """Per stream partition, the offset the agents must get next.

    A record is delivered only if it is that offset (then the next one is expected), so a
    record fetched before a seek can neither run ahead of the sought position nor repeat one
    already delivered. While faust's flow control is suspended (a rebalance, the recovery of
    tables) a delivered record would be skipped or cleared from the stream's buffer, so it is
    held back instead: the fetcher is rewound to the first held record once flow resumes.

    A fetcher that returns only records past the expected offset for ``stall_s`` while flow
    is active has lost its place (a seek that the bookkeeping did not hear of, around a
    rebalance during a broker outage): the partition would wait for that offset forever, so
    the fetcher is rewound to it, as for a held record.
    """

    def __init__(self, stall_s: float = STALL_S) -> None:
        self.next: dict[Any, int] = {}
        self.start: dict[Any, int] = {}
        self.held: dict[Any, int] = {}
        self.dropped = 0
        self.rewound = 0  # fetchers rewound to the expected offset after a stall
        self.stall_s = stall_s
        self.warned: dict[Any, float] = {}
        self.gap_since: dict[Any, float] = {}
        self.last_rewind: dict[Any, float] = {}

    def admit(self, tp: Any, offset: int, flowing: bool = True) -> bool:
        expected = self.next.get(tp)
        if not flowing:
            if expected is None or offset >= expected:
                self.held[tp] = min(offset, self.held.get(tp, offset))
            return False
        if expected is not None and offset != expected:
            self.dropped += 1
            if offset > expected:
                self._ahead(tp, expected, offset)
            return False
        if expected is None:
            self.start[tp] = offset
        self.next[tp] = offset + 1
        self.gap_since.pop(tp, None)
        self.last_rewind.pop(tp, None)
        return True

    def _ahead(self, tp: Any, expected: int, offset: int) -> None:
        """Records fetched before a seek are dropped for a moment after every rebalance;
        ``stall_s`` of nothing else means the fetcher lost its place, so it is rewound to
        the expected offset (again every ``stall_s`` while it lasts); a minute of it means a
        real gap in the topic's offsets, which is reported."""
        now = time.monotonic()
        since = self.gap_since.setdefault(tp, now)
        if now - since >= self.stall_s and now - self.last_rewind.get(tp, since) >= self.stall_s:
            self.last_rewind[tp] = now
            self.held[tp] = expected
            self.rewound += 1
            log.warning(
                "%s[%s]: the fetcher returns %d but the agents need %d next, for %.0f s: "
                "reading again from %d",
                getattr(tp, "topic", tp),
                getattr(tp, "partition", ""),
                offset,
                expected,
                now - since,
                expected,
            )
        if now - since < 60 or now - self.warned.get(tp, -1e9) < 60:
            return
        self.warned[tp] = now
        log.warning(
            "%s[%s]: waiting for offset %d for a minute, the fetcher returns %d: the topic has "
            "a gap in its offsets (compaction or transactional producers), which the worker "
            "does not read past. Use a plain topic.",
            getattr(tp, "topic", tp),
            getattr(tp, "partition", ""),
            expected,
            offset,
        )

    def buffers_cleared(self, tp: Any, acked: Any, committed: int | None) -> None:
        """faust dropped what the stream had buffered (it does on every flow-control resume):
        everything delivered but not yet acknowledged is to be fetched again."""
        base = committed if committed is not None else self.start.get(tp)
        expected = self.next.get(tp)
        if base is None or expected is None:
            return
        done = set(acked)
        while base in done:
            base += 1
        if base < expected:
            self.held[tp] = base

    def rewinds(self) -> dict[Any, int]:
        """Where to seek the held partitions; from then on they expect those offsets."""
        held, self.held = self.held, {}
        self.next.update(held)
        return held

    def sought(self, tp: Any, start: int, flowing: bool = False) -> None:
        """The fetcher was positioned at ``start``. What was delivered while flow was active
        beyond it stays delivered; anything else is expected again from ``start``."""
        self.held.pop(tp, None)
        self.gap_since.pop(tp, None)
        self.last_rewind.pop(tp, None)
        self.start[tp] = start
        if not flowing or self.next.get(tp, -1) < start:
            self.next[tp] = start

    def forget(self, tps: Any) -> None:
        for tp in tps:
            self.next.pop(tp, None)
            self.start.pop(tp, None)
            self.held.pop(tp, None)
            self.gap_since.pop(tp, None)
            self.last_rewind.pop(tp, None)


def commit_offset(self: Any, tp: TP) -> int | None:
    """``Consumer._new_offset`` by ``new_offset``: the offset to commit for ``tp``."""
    acked = self._acked[tp]
    offset, n = new_offset(acked, self._committed_offset[tp])
    if n:
        self._acked_index[tp].difference_update(acked[:n])
        del acked[:n]
    return offset


def consumer_init(orig: Callable[..., None]) -> Callable[..., None]:
    """Every consumer gets an ``Admission``, no read mark, and hears when flow control clears
    the streams' buffers."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self._read_offset = NoReadMark()
        self._fq_admission = admission = Admission()

        def on_clear() -> None:
            for tp in list(admission.next):
                admission.buffers_cleared(tp, self._acked.get(tp, ()), self._committed_offset[tp])

        listeners = getattr(self.app.flow_control, "fq_on_clear", None)
        if listeners is None:
            listeners = self.app.flow_control.fq_on_clear = []
        listeners.append(on_clear)

    return __init__


def admitting_getmany(orig: Callable[..., Any]) -> Callable[..., Any]:
    """``Consumer.getmany`` yielding only what ``Admission`` admits, rewinding held partitions
    once flow resumes; changelog records pass as they come (table recovery reads them)."""

    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        admission: Admission = self._fq_admission
        is_changelog = self._is_changelog_tp
        flowing = self.app.flow_control.is_active

        async def rewind() -> None:
            assigned = self.assignment()
            moves = {tp: off for tp, off in admission.rewinds().items() if tp in assigned}
            if moves:
                await self.seek_wait(moves)

        if admission.held and flowing():
            await rewind()
        # faust's test builds the set of changelog topics anew for every call: once per
        # partition and fetch here, not once per record
        changelog: dict[Any, bool] = {}
        async for tp, message in orig(self, timeout):
            known = changelog.get(tp)
            if known is None:
                known = changelog[tp] = is_changelog(tp)
            if known:
                yield tp, message
                continue
            active = flowing()
            if active and admission.held:
                await rewind()
            if admission.admit(tp, message.offset, active):
                yield tp, message

    return getmany


def clear_notifying(orig: Callable[..., None]) -> Callable[..., None]:
    """``FlowControlEvent.clear`` (every flow-control resume) tells the consumers, which then
    fetch again what was delivered but not acknowledged."""

    def clear(self: Any) -> None:
        orig(self)
        for listener in getattr(self, "fq_on_clear", ()):
            listener()

    return clear


def revoked_forgotten(orig: Callable[..., Any]) -> Callable[..., Any]:
    """A revoked partition starts over from its committed offset if it comes back."""

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        self._fq_admission.forget(revoked)
        await orig(self, revoked)

    return on_partitions_revoked


async def perform_seek(self: Any) -> None:
    """After every rebalance, every assigned partition is sought to its committed offset, or
    to the earliest one when there is none, and the bookkeeping starts from there (faust left
    partitions without a committed offset where the fetcher happened to be)."""
    committed = await self.seek_to_committed()
    if not committed:
        return
    tps = [fc.ensure_TP(tp) for tp in committed if not self._is_changelog_tp(fc.ensure_TP(tp))]
    earliest = {fc.ensure_TP(tp): off for tp, off in (await self.earliest_offsets(*tps)).items()}
    moves: dict[TP, int] = {}
    for tp in tps:
        off = committed.get(tp)
        start = max(off or 0, earliest.get(tp) or 0)
        if start != off or not off:
            moves[tp] = start
        self._committed_offset[tp] = start
        self._fq_admission.sought(tp, start, self.app.flow_control.is_active())
    if moves:
        await self.seek_wait(moves)


async def add_no_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
    """``Consumer._add_gap`` counted every offset the fetcher jumped over as acknowledged.
    Gaps are real only in compacted or transactional topics, which no agent here reads; a
    jump in these topics means messages were skipped, so it is not counted as processed."""
    log.debug(
        "not counting %s[%s] %s..%s as processed", tp.topic, tp.partition, offset_from, offset_to
    )
