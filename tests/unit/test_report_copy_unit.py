"""The stored report's data is a deep copy of the decoded item's: equal, never shared, and
whole for what orjson cannot write (an integer beyond 64 bits)."""

from __future__ import annotations

from consumers.reports import _copy


def test_a_deep_copy_equal_and_unshared() -> None:
    data = {
        "street": "330303001",
        "parties": [{"role": "applicant", "name": "张三", "phone": "13800000000"}],
        "amount_yuan": "12000.50",
        "party_count": 2,
        "collective": False,
        "ratio": 0.25,
        "community": None,
    }
    copied = _copy(data)
    assert copied == data
    assert copied is not data and copied["parties"] is not data["parties"]
    assert copied["parties"][0] is not data["parties"][0]
    copied["parties"][0]["name"] = "changed"
    assert data["parties"][0]["name"] == "张三"


def test_what_orjson_cannot_write_is_copied_whole() -> None:
    data = {"big": 10**30, "items": [1, 2]}
    copied = _copy(data)
    assert copied == data and copied["items"] is not data["items"]
