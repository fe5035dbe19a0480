"""A tick handled in the same batch as the items before it sees the rows they added."""

from __future__ import annotations

from typing import Any

from streams.agents.oversight import tick_keys
from streams.writeback import WriteBack


class Store(dict[str, Any]):
    def __init__(self, rows: dict[str, Any], partitions: dict[str, int]) -> None:
        super().__init__(rows)
        self._key_partition = partitions


class Table(dict[str, Any]):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.data = store


def test_a_tick_sees_the_rows_written_earlier_in_its_batch_and_not_other_partitions() -> None:
    table = Table(Store({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 1, "c": 0}))
    view = WriteBack(table, lambda k, v: 1)
    view["new"] = 4  # added by an item earlier in the batch, not yet written back
    view["a"] = 5  # changed: listed once
    del view["b"]  # deleted in the batch: the tick finds no row for it
    keys = tick_keys(table, view, 1, 2)
    assert sorted(keys) == ["a", "b", "new"] and "c" not in keys
    assert view.get("b") is None and view.get("new") == 4
