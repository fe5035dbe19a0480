"""The write-back view the agents put over their tables for one batch."""

from __future__ import annotations

from typing import Any

import pytest

from streams.writeback import DELETED, WriteBack


class CountingDict(dict[str, Any]):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_reads_see_writes_and_the_base_sees_them_once_after_flush() -> None:
    base = CountingDict({"a": 1, "b": 2})
    view = WriteBack(base)
    for i in range(50):
        view["a"] = view["a"] + 1
        view[f"n{i % 3}"] = i
    assert view["a"] == 51 and base["a"] == 1 and base.writes == 0
    assert view.flush() == 4
    assert base == {"a": 51, "b": 2, "n0": 48, "n1": 49, "n2": 47}
    assert base.writes == 4


def test_deletes_hide_keys_until_flushed_then_remove_them() -> None:
    base = {"a": 1, "b": 2}
    view = WriteBack(base)
    del view["a"]
    assert "a" not in view and view.get("a") is None and sorted(view) == ["b"]
    assert len(view) == 1 and "a" in base
    with pytest.raises(KeyError):
        del view["a"]
    view["c"] = 3
    view.flush()
    assert base == {"b": 2, "c": 3}


def test_a_key_deleted_then_set_again_is_written() -> None:
    base = {"a": 1}
    view = WriteBack(base)
    del view["a"]
    view["a"] = 5
    assert dict(view) == {"a": 5}
    view.flush()
    assert base == {"a": 5}


def test_changes_name_each_key_once_with_its_partition_and_are_taken_once() -> None:
    base = {"old": [0, "t", 3, 1]}
    view = WriteBack(base, partition_of=lambda key, value: value[2])
    view["x"] = [1, "t", 0, 5]
    view["x"] = [2, "t", 1, 6]  # the last write decides the value and the partition
    del view["old"]  # a delete is placed by the value it removes
    changes = sorted(view.changes(), key=lambda c: c[0])
    assert changes == [("old", DELETED, 3), ("x", [2, "t", 1, 6], 1)]
    assert list(view.changes()) == [] and base == {"old": [0, "t", 3, 1]}


def test_without_partition_of_changes_have_no_partition() -> None:
    view = WriteBack({})
    view["k"] = 1
    assert list(view.changes()) == [("k", 1, None)]
