"""A write-back view of a mapping: reads see the writes, which the caller takes (``changes``)
and writes back itself, once per changed key.

A faust table sends one changelog message per assignment. A batch of cases that touches the
same risk row or incident window fifty times should send one; the agents wrap their table in
this view for the batch, and ``streams.app.table_records`` writes the changes to the table and
its changelog once at the end (before the batch is acknowledged).

With ``partition_of`` the view also notes, for every key it changes, the partition the change
belongs to (asked with the new value, or the old one for a delete).

A view lives for one batch: it is ``OPEN`` until its changes are taken, then ``FLUSHED``, and a
flushed view refuses writes (``ViewFlushed``), so a change made after the write-back cannot
be lost silently. The pure objects get the view as the state of their batch call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

DELETED: Any = object()
_MISSING = object()

OPEN = "open"
FLUSHED = "flushed"


class ViewFlushed(RuntimeError):
    """A write to a write-back view whose changes were already taken."""


class WriteBack(MutableMapping[str, Any]):
    def __init__(
        self,
        base: MutableMapping[str, Any],
        partition_of: Callable[[str, Any], int] | None = None,
        reads: Mapping[str, Any] | None = None,
    ) -> None:
        self.base = base
        # where reads go: the mapping under ``base`` when the caller has it (a faust table's
        # own reads cost a sensor call and three layers of UserDict, and a missing key an
        # exception); its keys and values are those of ``base``
        self.reads: Mapping[str, Any] = base if reads is None else reads
        self.dirty: dict[str, Any] = {}
        self.partition_of = partition_of
        self.partitions: dict[str, int] = {}
        self.status = OPEN

    def _writable(self) -> None:
        if self.status is not OPEN:
            raise ViewFlushed("the batch's changes were already written back; start a new view")

    def __getitem__(self, key: str) -> Any:
        value = self.dirty.get(key, _MISSING)
        if value is DELETED:
            raise KeyError(key)
        if value is _MISSING:
            return self.reads[key]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.dirty.get(key, _MISSING)
        if value is _MISSING:
            return self.reads.get(key, default)
        return default if value is DELETED else value

    def __contains__(self, key: object) -> bool:
        value = self.dirty.get(key, _MISSING)  # type: ignore[call-overload]
        if value is _MISSING:
            return key in self.reads
        return value is not DELETED

    def __setitem__(self, key: str, value: Any) -> None:
        self._writable()
        if self.partition_of is not None:
            self.partitions[key] = self.partition_of(key, value)
        self.dirty[key] = value

    def __delitem__(self, key: str) -> None:
        self._writable()
        old = self[key]  # KeyError when absent
        if self.partition_of is not None:
            self.partitions[key] = self.partition_of(key, old)
        self.dirty[key] = DELETED

    def __iter__(self) -> Iterator[str]:
        for key in self.reads:
            if key not in self.dirty:
                yield key
        for key, value in self.dirty.items():
            if value is not DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def changes(self) -> Iterator[tuple[str, Any, int | None]]:
        """Every changed key once, with its last value (``DELETED`` for a delete) and the
        partition ``partition_of`` gave it; the view forgets them as they are taken and is
        flushed from then on (taking them again gives nothing)."""
        self.status = FLUSHED
        dirty, partitions = self.dirty, self.partitions
        self.dirty, self.partitions = {}, {}
        return ((key, value, partitions.get(key)) for key, value in dirty.items())
