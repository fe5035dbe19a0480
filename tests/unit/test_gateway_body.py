"""The body decoder's depth limit: exact at the boundary, and brackets inside strings ignored."""

from __future__ import annotations

import json

import pytest

from producers.gateway.body import decode_json
from producers.gateway.problems import Refusal


def _nest(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("depth", [2, 16, 17, 31, 32])
def test_within_the_limit_parses(depth: int) -> None:
    body = "[" + ",".join([_nest(depth - 1)] * 50) + "]"
    assert decode_json(body.encode(), 32) == json.loads(body)


@pytest.mark.parametrize("depth", [33, 48, 100_000])
def test_beyond_the_limit_names_the_path(depth: int) -> None:
    body = json.dumps({"data": {"x": ["PLACEHOLDER"]}}).replace('"PLACEHOLDER"', _nest(depth - 3))
    with pytest.raises(Refusal) as err:
        decode_json(body.encode(), 32)
    assert err.value.status == 422
    (problem,) = err.value.problems
    assert problem.path == "data.x" + "[0]" * 30
    assert problem.problem == "nested deeper than 32 levels"


def test_one_deep_item_among_shallow_ones_is_found() -> None:
    body = "[" + ",".join([_nest(5)] * 3000 + [_nest(32)]) + "]"
    with pytest.raises(Refusal) as err:
        decode_json(body.encode(), 32)
    assert err.value.problems[0].path == "[3000]" + "[0]" * 31


def test_brackets_inside_strings_do_not_count() -> None:
    value = {"summary": "[" * 5000 + '\\"{' * 100, "n": [[1]]}
    assert decode_json(json.dumps(value).encode(), 32) == value
