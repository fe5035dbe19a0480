"""The link index: which open case a new report of the same matter joins (one dispute, one case).

Pure state over a ``Mapping`` of rows, one per open case: its kind, when it was opened, the
keys of its first report and of every report linked to it since. The worker passes its faust
table (whose changelog makes a restart lose no key) and writes back the rows ``take`` returns;
tests pass a dict. Lookups go to an in-memory index of the keys, rebuilt from the rows whenever
they may have changed underneath (recovery, rebalance: ``invalidate``). Every decision depends
only on the rows and the report, and a report seen before gets the decision it got then, so
replaying the intake history links the same reports to the same cases.

A worker sees the rows of the intake partitions it holds. Reports of one matter share their
partition key (the street for disputes and petitions, the employer for wage claims), so with
several workers a repeat still meets its case, unless it names the street or the employer
otherwise (a wage claim with the employer's name only, where the first gave its credit code):
then it links only when one worker holds both partitions, and in the order the worker reads
the two partitions: the later report may be read first, open the case, and the earlier join it.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from streams.linkkeys import LinkKeys, key_name

DELETED: Any = None
DEVELOPMENT_SALT = b"fengqiao-development-link-salt"


@dataclass(frozen=True)
class LinkConfig:
    """``salt`` keys the hashes (a secret: kept out of ``repr``); ``horizon``: how far apart in
    event time a report and the case it joins may be; ``related_max``: how many possibly
    related cases a routed case names."""

    salt: bytes = field(default=DEVELOPMENT_SALT, repr=False)
    horizon: timedelta = timedelta(days=30)
    related_max: int = 10
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Linked:
    """The report joins ``case_id``; ``matched``: the names of the keys shared with it."""

    case_id: str
    matched: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Opened:
    """The report opens a case of its own; ``related``: open cases sharing only a weak key."""

    related: tuple[str, ...] = ()


@dataclass
class LinkStats:
    linked: int = 0
    opened: int = 0
    with_related: int = 0
    closed: int = 0
    unlinked: int = 0
    merged: int = 0
    expired: int = 0
    rebuilds: int = 0


def row_partition(key: str, row: Any) -> int:
    """The partition a row's changelog message goes to: the intake partition of its case."""
    return int(row["p"])


# from this many cases on a report's keys, they are merged in opened order and read only up to
# the first that serve, instead of all read and sorted
MERGE_FROM = 32


def _span(
    entries: list[tuple[float, str]], key: str, start: int
) -> Iterator[tuple[float, str, str]]:
    """(opened, case id, key) of ``entries`` from ``start`` on, in order."""
    for at in range(start, len(entries)):
        opened, case_id = entries[at]
        yield opened, case_id, key


def _indexed_keys(row: Mapping[str, Any]) -> Iterable[str]:
    """The keys a case's row is indexed under, each once: its own and its reports'."""
    return dict.fromkeys(_keys_of(row, "strong") + _keys_of(row, "weak"))


def _keys_of(row: Mapping[str, Any], part: str) -> list[str]:
    out = list(row.get(part) or ())
    for report in (row.get("reports") or {}).values():
        out.extend(report.get(part) or ())
    return out


class LinkIndex:
    """Decides, report by report, whether a report joins an open case; remembers the outcome."""

    def __init__(
        self,
        rows: Mapping[str, Any],
        cfg: LinkConfig | None = None,
        reads: Mapping[str, Any] | None = None,
    ) -> None:
        self.rows = rows
        # where rows are read: the mapping under ``rows`` when the caller has one (a table's
        # own reads are slow: a decision reads a row for every case sharing a key)
        self.reads: Mapping[str, Any] = rows if reads is None else reads
        self.cfg = cfg or LinkConfig()
        self._horizon_s = self.cfg.horizon.total_seconds()
        self.stats = LinkStats()
        self.pending: dict[str, Any] = {}
        self.stale = True
        # key -> (opened, case id) of the open cases with that key, in that order
        self._by_key: dict[str, list[tuple[float, str]]] = {}
        self._by_report: dict[str, str] = {}

    # --- state ------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """The rows may have changed underneath (recovery, revoked partitions)."""
        self.stale = True

    def row(self, case_id: str) -> dict[str, Any] | None:
        if case_id in self.pending:
            value = self.pending[case_id]
            return None if value is DELETED else value
        value = self.reads.get(case_id)
        return value if isinstance(value, dict) else None

    def _items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for case_id in {*self.reads.keys(), *self.pending.keys()}:
            row = self.row(case_id)
            if row is not None:
                yield case_id, row

    def _fresh(self) -> None:
        if not self.stale:
            return
        self._by_key, self._by_report = {}, {}
        for case_id, row in self._items():
            self._index(case_id, row, ordered=False)
        for entries in self._by_key.values():
            entries.sort()
        self.stale = False
        self.stats.rebuilds += 1

    def _index(self, case_id: str, row: Mapping[str, Any], ordered: bool = True) -> None:
        entry = (float(row["t"]), case_id)
        for key in _indexed_keys(row):
            entries = self._by_key.get(key)
            if entries is None:
                self._by_key[key] = [entry]
            elif not ordered or entries[-1] < entry:
                entries.append(entry)  # the usual case: the newest case of the key
            else:
                insort(entries, entry)
        for report_id in row.get("reports") or {}:
            self._by_report[report_id] = case_id

    def _unindex(self, case_id: str, row: Mapping[str, Any]) -> None:
        entry = (float(row["t"]), case_id)
        for key in _indexed_keys(row):
            entries = self._by_key.get(key)
            if entries is not None:
                at = bisect_left(entries, entry)
                if at < len(entries) and entries[at] == entry:
                    del entries[at]
                if not entries:
                    del self._by_key[key]
        for report_id in row.get("reports") or {}:
            if self._by_report.get(report_id) == case_id:
                del self._by_report[report_id]

    def _write(self, case_id: str, row: dict[str, Any] | None) -> None:
        old = self.row(case_id)
        if old is not None:
            self._unindex(case_id, old)
        self.pending[case_id] = row if row is not None else DELETED
        if row is not None:
            self._index(case_id, row)

    def take(self) -> list[tuple[str, dict[str, Any] | None]]:
        """The rows changed since the last call (None: deleted), to write back to the table."""
        pending, self.pending = self.pending, {}
        return list(pending.items())

    # --- decisions --------------------------------------------------------------------------

    def _candidates(
        self, keys: tuple[str, ...], kind: str, t: float, exclude: str, limit: int
    ) -> list[tuple[float, str, list[str]]]:
        """The first ``limit`` open cases of ``kind`` within the horizon sharing any of
        ``keys``: (opened, case id, the shared keys), earliest first (case ids are unique, so
        the keys never order). Each key's cases are in opened order: a few are read and sorted
        as they are, many are merged in order and read only until ``limit`` are found."""
        by_key = self._by_key
        lists = []
        total = 0
        for key in keys:
            entries = by_key.get(key)
            if entries:
                lists.append((key, entries))
                total += len(entries)
        if not lists:
            return []
        if total > MERGE_FROM:
            return self._merged(lists, kind, t, exclude, limit)
        shared: dict[str, list[str]] = {}
        for key, entries in lists:
            for _, case_id in entries:
                found = shared.get(case_id)
                if found is None:
                    shared[case_id] = [key]
                else:
                    found.append(key)
        out = []
        for case_id, matched in shared.items():
            opened = self._serves(case_id, kind, t, exclude)
            if opened is not None:
                out.append((opened, case_id, matched))
        out.sort()
        return out[:limit]

    def _merged(
        self,
        lists: list[tuple[str, list[tuple[float, str]]]],
        kind: str,
        t: float,
        exclude: str,
        limit: int,
    ) -> list[tuple[float, str, list[str]]]:
        """``_candidates`` over many cases: each key's from the horizon's start, merged in
        opened order, read until ``limit`` serve or the horizon's end is passed."""
        horizon = self._horizon_s
        # a second more on either side: the exact test is the row's, below
        start, end = (t - horizon - 1.0,), t + horizon + 1.0
        spans = [_span(entries, key, bisect_left(entries, start)) for key, entries in lists]
        out: list[tuple[float, str, list[str]]] = []
        last: tuple[float, str, list[str]] | None = None
        for opened, case_id, key in heapq.merge(*spans):
            if last is not None and last[1] == case_id:
                last[2].append(key)  # the same case under another of the keys
                continue
            if len(out) == limit or opened > end:
                break
            last = None
            if self._serves(case_id, kind, t, exclude) is None:
                continue
            last = (opened, case_id, [key])
            out.append(last)
        return out

    def _serves(self, case_id: str, kind: str, t: float, exclude: str) -> float | None:
        """When ``case_id`` was opened, if it is an open case of ``kind`` within the horizon of
        ``t`` (and not ``exclude``); None when it cannot take the report."""
        row = self.row(case_id)
        if case_id == exclude or row is None or row["kind"] != kind:
            return None
        opened = float(row["t"])
        return None if abs(t - opened) > self._horizon_s else opened

    def decide(
        self,
        case_id: str,
        kind: str,
        keys: LinkKeys,
        t: float,
        channel: str,
        partition: int,
        case_row: Callable[[], dict[str, Any]] | None = None,
    ) -> Linked | Opened:
        """The decision for the report whose own case id would be ``case_id``; recorded, so
        the same report gets the same decision again. ``case_row`` makes the report as a case
        (``streams.cases.case_to_row``), kept with a linked report so an unlink can route it
        (called only then)."""
        self._fresh()
        joined = self._by_report.get(case_id)
        if joined is not None:
            row = self.row(joined) or {}
            matched = row.get("reports", {}).get(case_id, {}).get("matched") or ()
            return Linked(joined, tuple(matched))
        own = self.row(case_id)
        if own is not None:
            # this very report opened a case: delivered again, it gets the same decision
            return Opened(tuple(own.get("related") or ()))
        found = self._candidates(keys.strong, kind, t, case_id, 1) if self.cfg.enabled else []
        if found:
            _, target, matched = found[0]
            names = sorted({key_name(k) for k in matched})
            row = dict(self.row(target) or {})
            reports = dict(row.get("reports") or {})
            reports[case_id] = {
                "t": t,
                "channel": channel,
                "matched": names,
                "strong": list(keys.strong),
                "weak": list(keys.weak),
                "case": case_row() if case_row is not None else None,
            }
            row["reports"] = reports
            row["last"] = max(float(row.get("last", row["t"])), t)
            self._write(target, row)
            self.stats.linked += 1
            return Linked(target, tuple(names))
        related = tuple(
            cid for _, cid, _ in self._candidates(keys.weak, kind, t, case_id, self.cfg.related_max)
        )
        self._write(
            case_id,
            {
                "p": partition,
                "kind": kind,
                "t": t,
                "last": t,
                "channel": channel,
                "strong": list(keys.strong),
                "weak": list(keys.weak),
                "related": list(related),
                "reports": {},
            },
        )
        self.stats.opened += 1
        if related:
            self.stats.with_related += 1
        return Opened(related)

    def close(self, case_id: str) -> bool:
        """The case was concluded or closed: no report joins it any more."""
        self._fresh()
        if self.row(case_id) is None:
            return False
        self._write(case_id, None)
        self.stats.closed += 1
        return True

    def unlink(self, case_id: str, report_id: str) -> dict[str, Any] | None:
        """A mediator said ``report_id`` is not the matter of ``case_id``: the report leaves
        the case and opens one of its own (never linked to this case again). Returns the
        report as a case row to route, or None when the report is not linked to the case (an
        unlink applied before, or unknown here)."""
        self._fresh()
        row = self.row(case_id)
        if row is None or report_id not in (row.get("reports") or {}):
            return None
        reports = dict(row["reports"])
        entry = reports.pop(report_id)
        self._write(case_id, {**row, "reports": reports})
        self._write(
            report_id,
            {
                "p": row["p"],  # the same owner as the case it leaves
                "kind": row["kind"],
                "t": float(entry["t"]),
                "last": float(entry["t"]),
                "channel": entry.get("channel"),
                "strong": list(entry.get("strong") or ()),
                "weak": list(entry.get("weak") or ()),
                "related": [case_id],
                "reports": {},
                "unlinked_from": case_id,
            },
        )
        self.stats.unlinked += 1
        case: dict[str, Any] | None = entry.get("case")
        return case

    def merge(self, case_id: str, other_id: str) -> bool:
        """A mediator linked two open cases by hand: ``other_id`` joins ``case_id`` as one of
        its reports (with every report it had), so later reports of either join ``case_id``.
        Both cases keep their histories in the store; here only the keys move. False when
        either is not open here or the merge was applied before."""
        self._fresh()
        target, other = self.row(case_id), self.row(other_id)
        if target is None or other is None or case_id == other_id:
            return False
        reports = dict(target.get("reports") or {})
        reports.update(other.get("reports") or {})
        reports[other_id] = {
            "t": float(other["t"]),
            "channel": other.get("channel"),
            "matched": ["by_hand"],
            "strong": list(other.get("strong") or ()),
            "weak": list(other.get("weak") or ()),
            "case": None,  # routed already: an unlink only reopens it here
        }
        last = max(float(target.get("last", target["t"])), float(other.get("last", other["t"])))
        self._write(other_id, None)
        self._write(case_id, {**target, "reports": reports, "last": last})
        self.stats.merged += 1
        return True

    def expire(self, cutoff: float) -> int:
        """Forget cases whose last report is older than ``cutoff`` (epoch seconds; the caller
        passes now minus the horizon): no new report can join them."""
        self._fresh()
        old = [cid for cid, row in self._items() if float(row.get("last", row["t"])) < cutoff]
        for case_id in old:
            self._write(case_id, None)
        self.stats.expired += len(old)
        return len(old)

    def __len__(self) -> int:
        return sum(1 for _ in self._items())
