"""The wire contracts and their validators, without any server."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from producers.sample import dispute, petition, wage_arrears
from producers.sdk import validate
from schemas.errors import ContractError
from schemas.events import INTAKE_KINDS
from schemas.parse import EventRejected, loads_json, parse_event, parse_intake_bytes
from schemas.validators import check_credit_code, check_id_number, check_phone

NOW = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
WHEN = NOW - timedelta(hours=1)

# Published codes of real companies (GB 32100-2015) and the standard's own id examples.
REAL_CREDIT_CODES = [
    "91350100M000100Y43",
    "91330100716105852F",  # ends in a letter check character
    "9144030071526726XG",
    "914403001922038216",  # ends in a digit check character
]
REAL_ID_NUMBERS = ["11010519491231002X", "440524188001010014", "110101199003074258"]

NAME, PHONE, ID_NUMBER = "张三丰", "13812345678", "110101199003074258"


def rng() -> random.Random:
    return random.Random(7)


def consultation(**overrides: Any) -> dict[str, Any]:
    data = {"street": "yongzhong", "category": "labor", "channel": "hotline", "summary": "advice"}
    data.update(overrides)
    return {
        "id": "c-1",
        "source": "hotline/12348",
        "type": "consultation.recorded.v1",
        "time": WHEN.isoformat(),
        "subject": None,
        "data": data,
    }


def rejected(event: Any, **kw: Any) -> EventRejected:
    with pytest.raises(EventRejected) as err:
        parse_event(event, now=NOW, **kw)
    return err.value


def paths(err: ContractError) -> set[str]:
    return {p.path for p in err.problems}


# --- identifiers -------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_pass(code: str) -> None:
    assert check_credit_code(code) == code
    assert check_credit_code(code.lower()) == code  # clerks type lower case


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91350100M000100Y44", "check character"),  # last character changed
        ("91330100716105852G", "check character"),
        ("9135010OM000100Y43", "outside"),  # letter O is not in the GB 32100 set
        ("91350100M000100Y4", "18 characters"),
        ("", "18 characters"),
    ],
)
def test_bad_credit_codes_fail(code: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_credit_code(code)


@pytest.mark.parametrize("number", REAL_ID_NUMBERS)
def test_real_id_numbers_pass(number: str) -> None:
    assert check_id_number(number) == number
    assert check_id_number(number.lower()) == number


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("110105194912310021", "check digit"),  # should end in X
        ("440524188001010015", "check digit"),
        ("110101199002304258", "birth date"),  # 30 February
        ("11010119900307425", "17 digits"),
        ("1101011990030742A8", "17 digits"),
    ],
)
def test_bad_id_numbers_fail(number: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_id_number(number)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0577-86868686", "0577-86868686"),
        ("(0577)86868686", "057786868686"),
        ("12348", "12348"),
    ],
)
def test_phones_pass(raw: str, normal: str) -> None:
    assert check_phone(raw) == normal


@pytest.mark.parametrize("raw", ["1381234567", "23812345678", "12812345678", "86868686", "abc"])
def test_bad_phones_fail(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        check_phone(raw)


# --- events ------------------------------------------------------------------------------


def test_every_sample_kind_is_valid() -> None:
    for kind, ev in [
        ("dispute", dispute(rng(), "d-1", WHEN)),
        ("petition", petition(rng(), "p-1", WHEN)),
        ("wage-arrears", wage_arrears(rng(), "w-1", WHEN)),
        ("consultation", consultation()),
    ]:
        parsed = validate(ev, kind, now=NOW)
        assert parsed.type == INTAKE_KINDS[kind][0]


def test_party_identifiers_are_checked_and_normalised() -> None:
    ev = dispute(
        rng(),
        "d-2",
        WHEN,
        parties=[
            {
                "role": "applicant",
                "kind": "person",
                "name": NAME,
                "phone": "+86 138 1234 5678",
                "id_number": "11010519491231002x",
            },
            {
                "role": "respondent",
                "kind": "organisation",
                "name": "某某建设有限公司",
                "credit_code": "91330100716105852f",
            },
        ],
    )
    parsed = parse_event(ev, now=NOW)
    d = parsed.to_dict()["data"]
    assert d["parties"][0]["phone"] == PHONE
    assert d["parties"][0]["id_number"] == "11010519491231002X"
    assert d["parties"][1]["credit_code"] == "91330100716105852F"


def test_enums_are_enforced() -> None:
    err = rejected(
        dispute(
            rng(),
            "d-3",
            WHEN,
            category="gossip",
            channel="pigeon",
            parties=[{"role": "judge", "kind": "robot"}],
        )
    )
    assert {
        "data.category",
        "data.channel",
        "data.parties[0].role",
        "data.parties[0].kind",
    } <= paths(err)
    assert err.error_class == "payload"


@pytest.mark.parametrize("amount", ["0", "0.00", "1234567.89", 300, 12.5])
def test_amounts_are_non_negative_decimals(amount: Any) -> None:
    parsed = parse_event(wage_arrears(rng(), "w-2", WHEN, amount_yuan=amount), now=NOW)
    value = parsed.payload.amount_yuan  # type: ignore[attr-defined]
    assert isinstance(value, Decimal) and value == Decimal(str(amount))


@pytest.mark.parametrize("amount", ["-1", "1.234", "NaN", "Infinity", "lots", True])
def test_bad_amounts_fail(amount: Any) -> None:
    err = rejected(wage_arrears(rng(), "w-3", WHEN, amount_yuan=amount))
    assert paths(err) == {"data.amount_yuan"}


def test_wage_arrears_amount_is_required() -> None:
    ev = wage_arrears(rng(), "w-4", WHEN)
    del ev["data"]["amount_yuan"]
    err = rejected(ev)
    assert [str(p) for p in err.problems] == ["data.amount_yuan: required field is missing"]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda c: dispute(rng(), "d", WHEN, party_count=c), "data.party_count"),
        (lambda c: petition(rng(), "p", WHEN, petitioner_count=c), "data.petitioner_count"),
        (lambda c: wage_arrears(rng(), "w", WHEN, worker_count=c), "data.worker_count"),
    ],
)
@pytest.mark.parametrize("count", [0, -3, 2.5, True, "two"])
def test_counts_are_whole_numbers_of_at_least_one(make: Any, field: str, count: Any) -> None:
    assert field in paths(rejected(make(count)))


def test_counts_accept_numeric_strings() -> None:
    parsed = parse_event(petition(rng(), "p", WHEN, petitioner_count="3"), now=NOW)
    assert parsed.payload.petitioner_count == 3  # type: ignore[attr-defined]


def test_party_count_covers_listed_parties() -> None:
    err = rejected(dispute(rng(), "d", WHEN, party_count=1))
    assert "party_count is smaller" in err.reason


def test_future_time_is_rejected_but_skew_tolerated() -> None:
    soon = dispute(rng(), "d", NOW + timedelta(minutes=5))
    assert parse_event(soon, now=NOW).envelope.id == "d"
    err = rejected(dispute(rng(), "d", NOW + timedelta(hours=2)))
    assert paths(err) == {"time"} and err.error_class == "time"
    assert "in the future" in err.reason


def test_time_must_carry_a_timezone() -> None:
    ev = dispute(rng(), "d", WHEN)
    ev["time"] = "2023-03-01T09:30:00"
    assert "time" in paths(rejected(ev))


def test_unknown_fields_are_kept_everywhere() -> None:
    ev = dispute(rng(), "d-5", WHEN, referral_no="R-88")
    ev["traceparent"] = "00-abc-def-01"
    ev["data"]["parties"][0]["nickname"] = "old Wang"
    wire = parse_event(ev, now=NOW).to_dict()
    assert wire["traceparent"] == "00-abc-def-01"
    assert wire["data"]["referral_no"] == "R-88"
    assert wire["data"]["parties"][0]["nickname"] == "old Wang"


def test_required_fields_and_unknown_type() -> None:
    err = rejected(
        {
            "id": "x",
            "source": "hotline/12348",
            "type": "dispute.reported.v1",
            "time": WHEN.isoformat(),
            "data": {},
        }
    )
    assert {
        "data.street",
        "data.category",
        "data.parties",
        "data.party_count",
        "data.channel",
        "data.summary",
    } == paths(err)
    err = rejected({**consultation(), "type": "gossip.v1"})
    assert paths(err) == {"type"} and err.error_class == "type"


def test_every_invalid_field_is_listed_at_once() -> None:
    """Envelope, payload and time problems come back together, not one round trip each."""
    ev = dispute(rng(), "d", NOW + timedelta(days=1), street="Main Street", party_count=0)
    ev["source"] = "Not A Source!"
    err = rejected(ev)
    assert {"source", "data.street", "data.party_count", "time"} <= paths(err)
    assert err.error_class == "envelope"


def test_sdk_validate_checks_the_kind() -> None:
    with pytest.raises(ContractError) as err:
        validate(petition(rng(), "p", WHEN), "dispute", now=NOW)
    assert paths(err.value) == {"type"}


def test_reasons_never_contain_personal_values() -> None:
    """A bad event full of personal data: every reason names fields, never values."""
    ev = dispute(
        rng(),
        "d-pii",
        WHEN,
        street=NAME,  # a clerk typed the name into the wrong column
        summary=NAME * 2000,  # too long
        parties=[
            {
                "role": "applicant",
                "kind": "person",
                "name": NAME * 100,
                "phone": PHONE + "9",
                "id_number": ID_NUMBER[:-1] + "1",
            },
            {
                "role": "respondent",
                "kind": NAME,
                "name": NAME,
                "phone": PHONE[:-1],
                "credit_code": ID_NUMBER,
            },
        ],
        party_count=PHONE,
        amount_yuan=ID_NUMBER + "x",
        category=NAME,
    )
    err = rejected(ev)
    assert len(err.problems) >= 9
    reason = err.reason
    for value in (NAME, PHONE, PHONE[:-1], ID_NUMBER, ID_NUMBER[:-1], "张", "1381234"):
        assert value not in reason
    raw = repr(ev).encode()
    with pytest.raises(EventRejected) as err2:
        parse_intake_bytes(raw + b"\xff" + NAME.encode(), now=NOW)
    assert NAME not in err2.value.reason and PHONE not in err2.value.reason


def test_intake_bytes_decode_errors() -> None:
    for raw, cls in [
        (b"", "decode"),
        (b"{not json", "decode"),
        (b"\xff\xfe", "decode"),
        (b"[1, 2]", "envelope"),
    ]:
        with pytest.raises(EventRejected) as err:
            parse_intake_bytes(raw, now=NOW)
        assert err.value.error_class == cls
    ok = dispute(rng(), "d", WHEN)
    import json

    with pytest.raises(EventRejected) as err:
        parse_intake_bytes(json.dumps(ok).encode(), now=NOW, expected_type="petition.filed.v1")
    assert err.value.error_class == "type"


def test_pattern_failures_are_explained_in_words() -> None:
    ev = dispute(rng(), "-bad id", WHEN, street="Yong Zhong")
    ev["source"] = "Hotline 12348"
    reasons = {p.path: p.problem for p in rejected(ev).problems}
    assert reasons["data.street"].startswith("must be a lower-case code")
    assert "hotline/12348" in reasons["source"]
    assert reasons["id"].startswith("must start with a letter or digit")


# Personal data typed into a code field: refused at the gate, the reason names the field only.
PERSONAL_IN_CODES = [
    ("330303198304131033", "resident id number"),  # the value that once reached /metrics
    ("11010519491231002x", "resident id number"),
    ("110105491231002", "resident id number"),  # the older 15-digit form
    ("13712345678", "phone number"),
    ("8613712345678", "phone number"),
    ("0577-88881234", "phone number"),
    ("88881234", "phone number"),
    ("91330100716105852f", "unified social credit code"),
]


@pytest.mark.parametrize("value,what", PERSONAL_IN_CODES)
def test_personal_data_in_a_code_field_is_refused_naming_the_field(value: str, what: str) -> None:
    cases = [
        (dispute(rng(), "d-s", WHEN, street=value), "data.street"),
        (dispute(rng(), "d-c", WHEN, community=value), "data.community"),
        (petition(rng(), "p-s", WHEN, street=value), "data.street"),
        (petition(rng(), "p-c", WHEN, community=value), "data.community"),
        (wage_arrears(rng(), "w-s", WHEN, street=value), "data.street"),
        (wage_arrears(rng(), "w-p", WHEN, project={"name": "安置房", "code": value}),
         "data.project.code"),
        (consultation(street=value), "data.street"),
    ]  # fmt: skip
    for ev, field in cases:
        err = rejected(ev)
        problems = {p.path: p.problem for p in err.problems}
        assert set(problems) == {field}, (field, problems)
        assert what in problems[field] and "personal data" in problems[field]
        assert value not in err.reason and value.upper() not in err.reason
        assert err.error_class == "payload"


def test_catalogue_like_codes_are_not_mistaken_for_personal_data() -> None:
    for street, community in [("haibin", "haibin-01"), ("yongzhong", None), ("nowhere", "zzz")]:
        parse_event(dispute(rng(), "d-ok", WHEN, street=street, community=community), now=NOW)
    # administrative division codes (6, 9, 12 digits) are codes, not phones or id numbers
    for code in ("330303", "330303001", "330303001001"):
        parse_event(dispute(rng(), "d-ok", WHEN, street=code), now=NOW)
    project = {"name": "安置房", "code": "2020-330303-48-01-123456"}
    parse_event(wage_arrears(rng(), "w-ok", WHEN, project=project), now=NOW)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": NaN, "b": -Infinity}',
        b'{"a": 123456789012345678901234567890, "b": -9223372036854775809}',
        b'{"a": 18446744073709551615, "b": 9223372036854775807, "c": 5e-324}',
        b'{"a": "\\ud800", "b": "\\u0000", "c": 1E2, "d": -0.0}',
        '{"a": "调解"}'.encode("utf-16"),
    ],
)
def test_intake_decoding_reads_what_json_loads_reads(raw: bytes) -> None:
    # the fast decoder hands every message json.loads would read differently to json.loads
    assert repr(loads_json(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize("raw", [b'{"a": 1', b"\xff{}", b"{'a': 1}", b'{"a": 01}'])
def test_intake_decoding_raises_what_json_loads_raises(raw: bytes) -> None:
    with pytest.raises(ValueError) as fast:
        loads_json(raw)
    with pytest.raises(ValueError) as slow:
        json.loads(raw)
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)
