"""The one-pass parse of an intake event of a known type gives what the long way gives, and
falls back to the long way, which names the problems, for anything it does not accept."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from producers.sample import random_event
from schemas.parse import EventRejected, _parse_valid, parse_intake_bytes
from streams.intake import TOPIC_TYPES

NOW = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
FUTURE = timedelta(minutes=10)
TYPE_OF = {
    "dispute": TOPIC_TYPES["intake.disputes"],
    "petition": TOPIC_TYPES["intake.petitions"],
    "wage-arrears": TOPIC_TYPES["intake.wage-arrears"],
}


def _events(n: int) -> list[tuple[str, dict]]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        kind, ev = random_event(rng, i, when=NOW - timedelta(hours=1, seconds=i), run="one-pass")
        out.append((TYPE_OF[kind], ev))
    return out


def _long_way(raw: bytes, type_: str) -> dict:
    # without an expected type the long way is taken; the type is then checked by hand
    parsed = parse_intake_bytes(raw, now=NOW, max_future=FUTURE)
    assert parsed.type == type_
    return parsed.to_dict()


def test_a_valid_event_parses_in_one_pass_to_what_the_long_way_gives() -> None:
    seen_types = set()
    for type_, ev in _events(600):
        # unknown fields are kept, in the envelope and in the payload
        ev = {**ev, "x_envelope_extra": 1, "data": {**ev["data"], "x_payload_extra": [1, "二"]}}
        raw = json.dumps(ev, ensure_ascii=False).encode()
        fast = _parse_valid(raw, type_, NOW, FUTURE)
        assert fast is not None, ev["id"]
        assert fast.to_dict() == _long_way(raw, type_)
        assert fast.type == type_ and type(fast.payload).__name__ in {
            "DisputeReported",
            "PetitionFiled",
            "WageArrearsReported",
        }
        assert parse_intake_bytes(raw, now=NOW, expected_type=type_).to_dict() == fast.to_dict()
        seen_types.add(type_)
    assert seen_types == set(TYPE_OF.values())


def _variants(ev: dict) -> list[tuple[str, bytes]]:
    later = (NOW + timedelta(hours=1)).isoformat()
    no_street = {**ev, "data": {k: v for k, v in ev["data"].items() if k != "street"}}
    return [
        ("not JSON", b"{not json"),
        ("not UTF-8", json.dumps(ev).encode() + b"\xff"),
        ("empty", b""),
        ("a list", b"[1, 2]"),
        ("in the future", json.dumps({**ev, "time": later}).encode()),
        ("a missing field", json.dumps(no_street).encode()),
        ("a bad id", json.dumps({**ev, "id": "-bad"}).encode()),
        ("NaN", json.dumps(ev).replace('"data": {', '"data": {"n": NaN, ', 1).encode()),
    ]


@pytest.mark.parametrize("index", range(8))
def test_what_one_pass_does_not_accept_takes_the_long_way(index: int) -> None:
    type_, ev = _events(1)[0]
    what, raw = _variants(ev)[index]
    if what == "NaN":
        # json.loads reads NaN, so the long way accepts it; the one pass must not differ
        fast = _parse_valid(raw, type_, NOW, FUTURE)
        long_way = _long_way(raw, type_)
        assert fast is None or fast.to_dict() == long_way
        assert parse_intake_bytes(raw, now=NOW, expected_type=type_).to_dict() == long_way
        return
    assert _parse_valid(raw, type_, NOW, FUTURE) is None, what
    with pytest.raises(EventRejected) as one:
        parse_intake_bytes(raw, now=NOW, max_future=FUTURE, expected_type=type_)
    with pytest.raises(EventRejected) as long_way:
        parse_intake_bytes(raw, now=NOW, max_future=FUTURE)
    assert one.value.problems == long_way.value.problems, what
    assert one.value.error_class == long_way.value.error_class


def test_an_event_of_another_type_than_the_topic_s_is_refused_by_type() -> None:
    type_, ev = next((t, e) for t, e in _events(20) if t == TYPE_OF["dispute"])
    raw = json.dumps(ev).encode()
    assert _parse_valid(raw, TYPE_OF["petition"], NOW, FUTURE) is None
    with pytest.raises(EventRejected) as err:
        parse_intake_bytes(raw, now=NOW, expected_type=TYPE_OF["petition"])
    assert err.value.error_class == "type"
