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


def _taken(view: WriteBack) -> dict[str, Any]:
    return {key: value for key, value, _partition in view.changes()}


def test_reads_see_writes_and_each_changed_key_is_taken_once_with_its_last_value() -> None:
    base = CountingDict({"a": 1, "b": 2})
    view = WriteBack(base)
    for i in range(50):
        view["a"] = view["a"] + 1
        view[f"n{i % 3}"] = i
    assert view["a"] == 51 and base["a"] == 1 and base.writes == 0
    changes = list(view.changes())
    assert len(changes) == 4
    assert {k: v for k, v, _p in changes} == {"a": 51, "n0": 48, "n1": 49, "n2": 47}
    assert base == {"a": 1, "b": 2} and base.writes == 0  # the caller writes them back


def test_deletes_hide_keys_and_are_taken_as_deleted() -> None:
    base = {"a": 1, "b": 2}
    view = WriteBack(base)
    del view["a"]
    assert "a" not in view and view.get("a") is None and sorted(view) == ["b"]
    assert len(view) == 1 and "a" in base
    with pytest.raises(KeyError):
        del view["a"]
    view["c"] = 3
    assert _taken(view) == {"a": DELETED, "c": 3}


def test_a_key_deleted_then_set_again_is_written() -> None:
    base = {"a": 1}
    view = WriteBack(base)
    del view["a"]
    view["a"] = 5
    assert dict(view) == {"a": 5}
    assert _taken(view) == {"a": 5}


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


def test_a_view_is_open_until_its_changes_are_taken_then_refuses_writes() -> None:
    from streams.writeback import FLUSHED, OPEN, ViewFlushed

    base = {"a": 1}
    view = WriteBack(base)
    assert view.status == OPEN
    view["b"] = 2
    changes = view.changes()  # taking them flushes the view, before they are iterated
    assert view.status == FLUSHED
    assert list(changes) == [("b", 2, None)]
    with pytest.raises(ViewFlushed):
        view["c"] = 3
    with pytest.raises(ViewFlushed):
        del view["a"]
    assert view["a"] == 1 and list(view.changes()) == []
