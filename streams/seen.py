"""The dedupe ids, stored as one table row per partition and intake batch.

A row per id cost a changelog message per event, about a tenth of the worker's time. Here the
table (``rows``) holds buckets, ``{"p": partition, "ts": newest event time, "ids": {id: entry}}``
under a key naming the first message of the bucket, and lookups go to an in-memory index of the
ids, rebuilt from the rows whenever they may have changed underneath (a rebalance or a recovery
calls ``invalidate``). An entry is what ``IntakeProcessor`` stores: ``[event time, topic,
partition, offset]`` of the message first seen with the id. Rows of the old layout (the id as
key, the entry as value) are read the same way, so a running deployment keeps its ids.

Pure code over a ``MutableMapping``: the worker passes its faust table and writes the rows that
``take`` and ``expire`` return through its changelog; tests pass a dict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

Entry = list[Any]


def row_ids(key: str, row: Any) -> dict[str, Entry]:
    """The ids a table row holds (a bucket, or one id in the old layout)."""
    if isinstance(row, dict):
        ids = row.get("ids")
        return ids if isinstance(ids, dict) else {}
    return {key: row} if isinstance(row, list) and row else {}


def row_partition(key: str, row: Any) -> int:
    """The partition a row belongs to: the bucket's, or the entry's (old layout)."""
    return int(row["p"]) if isinstance(row, dict) else int(row[2])


def _newest(row: Any) -> float:
    return float(row["ts"]) if isinstance(row, dict) else float(row[0])


class SeenIds(MutableMapping[str, Entry]):
    """The ids seen, as the mapping ``IntakeProcessor`` reads and writes.

    New entries wait in ``pending`` until ``take`` turns them into bucket rows. ``bucket_max``
    bounds the ids per row (a Kafka message must stay well under its size limit).
    """

    def __init__(self, rows: Mapping[str, Any], bucket_max: int = 1000) -> None:
        self.rows = rows
        self.bucket_max = bucket_max
        self.index: dict[str, Entry] = {}
        self.pending: dict[int, dict[str, Entry]] = {}
        self.stale = True
        self.rebuilds = 0

    def invalidate(self) -> None:
        """The rows may have changed underneath (recovery, revoked partitions)."""
        self.stale = True

    def _fresh(self) -> dict[str, Entry]:
        if self.stale:
            index: dict[str, Entry] = {}
            for key, row in list(self.rows.items()):
                for event_id, entry in row_ids(key, row).items():
                    known = index.get(event_id)
                    # an id seen again after the horizon has two entries: the newer counts
                    if known is None or float(entry[0]) >= float(known[0]):
                        index[event_id] = entry
            for ids in self.pending.values():
                index.update(ids)
            self.index, self.stale = index, False
            self.rebuilds += 1
        return self.index

    def get(self, key: str, default: Any = None) -> Any:
        return self._fresh().get(key, default)

    def __getitem__(self, key: str) -> Entry:
        return self._fresh()[key]

    def __setitem__(self, key: str, entry: Entry) -> None:
        self._fresh()[key] = entry
        self.pending.setdefault(int(entry[2]), {})[key] = entry

    def __delitem__(self, key: str) -> None:
        del self._fresh()[key]
        for ids in self.pending.values():
            ids.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fresh())

    def __len__(self) -> int:
        return len(self._fresh())

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        """The new rows for the entries written since the last call: one per partition and
        ``bucket_max`` ids, keyed by the first message they hold."""
        out: list[tuple[str, dict[str, Any]]] = []
        pending, self.pending = self.pending, {}
        for partition, ids in pending.items():
            items = list(ids.items())
            for start in range(0, len(items), self.bucket_max):
                chunk = dict(items[start : start + self.bucket_max])
                first = min(chunk.values(), key=lambda e: (str(e[1]), int(e[3])))
                key = f"{partition}:{first[1]}:{first[3]}"
                newest = max(float(e[0]) for e in chunk.values())
                out.append((key, {"p": partition, "ts": newest, "ids": chunk}))
        return out

    def expire(self, cutoff: float) -> tuple[list[str], int]:
        """Rows whose newest event time is before ``cutoff`` (epoch seconds): their keys, to
        delete, and how many ids they held. The ids leave the index at once."""
        index = self._fresh()
        keys: list[str] = []
        dropped = 0
        for key, row in list(self.rows.items()):
            if _newest(row) >= cutoff:
                continue
            keys.append(key)
            for event_id, entry in row_ids(key, row).items():
                dropped += 1
                if index.get(event_id) == entry:
                    del index[event_id]
        return keys, dropped
