"""The case store's JSON columns are written by orjson, read back as the standard library's
text would be, and fall back to the standard library for what orjson does not write."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, insert, select

from consumers.db import make_engine
from consumers.jsontext import dumps

VALUES = [
    {"reasons": ["规则 r1：适用本规则。", "Routed to yongzhong"], "n": 3, "x": 1.5, "y": None},
    {"nested": {"list": [1, "二", {"三": [True, False]}]}, "empty": {}, "e": []},
    {"float": 1e16, "small": 5e-324, "neg": -0.0, "quote": 'a "b" \\ c', "nul": "\u0000"},
    ["a", 1, 2.25],
    "plain text",
    12,
]


@pytest.mark.parametrize("value", VALUES)
def test_what_is_written_reads_back_as_the_standard_library_s_text(value: object) -> None:
    text = dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert repr(json.loads(text)) == repr(value)


def test_what_orjson_does_not_write_goes_to_the_standard_library() -> None:
    big = {"a": 18446744073709551616}  # beyond 64 bits
    assert dumps(big) == json.dumps(big)
    keyed = {1: "one", "2": "two"}  # a key that is not a string
    assert dumps(keyed) == json.dumps(keyed) and json.loads(dumps(keyed)) == {
        "1": "one",
        "2": "two",
    }


def test_nan_and_infinities_are_written_as_null() -> None:
    assert json.loads(dumps({"a": math.nan, "b": math.inf, "c": -math.inf})) == {
        "a": None,
        "b": None,
        "c": None,
    }


def test_a_sqlite_engine_writes_json_columns_with_it(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/j.db")
    meta = MetaData()
    rows = Table("rows", meta, Column("id", String, primary_key=True), Column("doc", JSON))
    meta.create_all(engine)
    with engine.begin() as conn:
        for i, value in enumerate(VALUES):
            conn.execute(insert(rows).values(id=str(i), doc=value))
    with engine.connect() as conn:
        back = dict(conn.execute(select(rows.c.id, rows.c.doc)).all())
        raw = conn.exec_driver_sql("SELECT doc FROM rows WHERE id = '0'").scalar_one()
    assert [back[str(i)] for i in range(len(VALUES))] == VALUES
    assert raw == dumps(VALUES[0]) and "规则" in raw  # orjson's text: characters not escaped
