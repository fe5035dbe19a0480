"""A write-back view of a mapping: reads see the writes, which reach the mapping on ``flush``.

A faust table sends one changelog message per assignment. A batch of cases that touches the
same risk row or incident window fifty times should send one; the agents wrap their table in
this view for the batch and flush it once at the end (before the batch is acknowledged).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

_DELETED = object()
_MISSING = object()


class WriteBack(MutableMapping[str, Any]):
    def __init__(self, base: MutableMapping[str, Any]) -> None:
        self.base = base
        self.dirty: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.dirty.get(key, _MISSING)
        if value is _DELETED:
            raise KeyError(key)
        if value is _MISSING:
            return self.base[key]
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.dirty[key] = value

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError when absent  # noqa: B018
        self.dirty[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        for key in self.base:
            if key not in self.dirty:
                yield key
        for key, value in self.dirty.items():
            if value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def flush(self) -> int:
        """Write every changed key to the mapping once; returns how many were written."""
        n = len(self.dirty)
        for key, value in self.dirty.items():
            if value is _DELETED:
                self.base.pop(key, None)
            else:
                self.base[key] = value
        self.dirty.clear()
        return n
