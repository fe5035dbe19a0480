"""Linking keys and the link index: no personal value in a key, one person written two ways is
one key, and the same history always links the same reports to the same cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.parse import parse_event
from streams.intake import IntakeProcessor, IntakeResult
from streams.linking import LinkConfig, LinkIndex, Opened
from streams.linkkeys import KeyMaker, LinkKeys, normalise_phone
from streams.routing import load_router
from tests.linktools import (
    credit_code,
    dispute,
    fullwidth,
    id_number,
    mobile,
    spaced,
    wage_claim,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=60)  # the reports are history: no future-skew rejection
SALT = b"test-salt"


def keys(event: dict, salt: bytes = SALT) -> LinkKeys:
    parsed = parse_event(event)
    kind = {"dispute.reported.v1": "dispute", "wage_arrears.reported.v1": "wage_arrears"}
    return KeyMaker(salt).keys_for(kind[event["type"]], parsed.payload)


def personal_values(event: dict) -> list[str]:
    """Every personal value of the event, as sent and normalised (digits only, lower case)."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("phone", "id_number", "credit_code", "name") and isinstance(x, str):
                    out.extend({x, x.lower(), normalise_phone(x)} - {""})
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(event["data"])
    return out


def test_no_personal_value_appears_in_any_key() -> None:
    phone, idno, code = mobile(1), id_number(1), credit_code(1)
    events = [
        dispute("d-1", T0, phone=phone, id_no=idno, respondent_code=code),
        wage_claim("w-1", T0, employer="某建设公司", employer_code=code, contact_phone=phone),
    ]
    for event in events:
        k = keys(event)
        assert k.strong and k.weak
        values = personal_values(event)
        assert values
        for key in (*k.strong, *k.weak):
            for value in values:
                # a value and every 6-character piece of it (a phone's tail, a birth date)
                pieces = {value[i : i + 6] for i in range(max(1, len(value) - 5))}
                assert not any(p in key for p in pieces), "a key carries a personal value"


def test_the_same_person_written_two_ways_yields_the_same_keys() -> None:
    phone, idno = mobile(2), id_number(4)
    assert idno.endswith("X") or True  # the lower-case form below is tested either way
    plain = keys(dispute("d-1", T0, phone=phone, id_no=idno))
    for phone_as, id_as in [
        (fullwidth(phone), fullwidth(idno)),
        (spaced(phone), idno.lower()),
        (f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f" {idno} "),
        (f"+86 {spaced(phone)}", idno),
    ]:
        other = keys(dispute("d-2", T0, channel="walkin", phone=phone_as, id_no=id_as))
        assert other.strong == plain.strong


def test_an_id_number_with_a_lower_case_x_is_the_same_key() -> None:
    idno = next(id_number(i) for i in range(200) if id_number(i).endswith("X"))
    upper = keys(dispute("d-1", T0, id_no=idno))
    lower = keys(dispute("d-2", T0, id_no=idno.lower()))
    assert upper.strong == lower.strong


def test_keys_depend_on_the_salt_and_the_matter() -> None:
    phone = mobile(3)
    a = keys(dispute("d-1", T0, phone=phone))
    assert keys(dispute("d-1", T0, phone=phone), b"another-salt").strong != a.strong
    assert keys(dispute("d-1", T0, phone=phone, category="family")).strong != a.strong


def test_the_salt_is_never_in_repr() -> None:
    assert "test-salt" not in repr(KeyMaker(SALT))
    assert "secret" not in repr(LinkConfig(salt=b"secret"))
    with pytest.raises(ValueError, match="link_salt"):
        KeyMaker(b"")


def test_an_employer_by_code_or_by_name_meets_itself() -> None:
    code, phone = credit_code(5), mobile(5)
    both = keys(
        wage_claim(
            "w-1", T0, employer="温州某某建设有限公司", employer_code=code, contact_phone=phone
        )
    )
    name_only = keys(
        wage_claim(
            "w-2",
            T0,
            employer="温州某某建设（有限）公司 ",
            contact_phone=spaced(phone),
            channel="walkin",
        )
    )
    assert set(both.strong) & set(name_only.strong)


def _raw(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def _processor(rows: dict | None = None, **cfg: Any) -> IntakeProcessor:
    index = LinkIndex(rows if rows is not None else {}, LinkConfig(salt=SALT, **cfg))
    return IntakeProcessor(load_router(), {}, links=index)


def _feed(p: IntakeProcessor, events: list[dict]) -> list[IntakeResult]:
    return [
        p.handle(
            _raw(e),
            "intake.disputes" if e["type"].startswith("dispute") else "intake.wage-arrears",
            0,
            i,
            NOW,
        )
        for i, e in enumerate(events)
    ]


def test_a_report_of_the_same_matter_joins_the_open_case() -> None:
    phone = mobile(6)
    first, again = _feed(
        _processor(),
        [
            dispute("hl-1", T0, phone=phone),
            dispute("wk-9", T0 + timedelta(days=2), channel="walkin", phone=spaced(phone)),
        ],
    )
    assert first.case is not None and first.outs[0].topic == "cases.routed"
    assert again.case is None and again.linked is not None
    assert again.linked.case_id == "hl-1"
    [out] = again.outs
    assert out.topic == "cases.lifecycle" and out.key == "hl-1"
    assert out.value["type"] == "case.linked.v1" and out.value["id"] == "wk-9/linked"
    data = out.value["data"]
    assert data["case_id"] == "hl-1" and data["report_id"] == "wk-9"
    assert data["matched"] == ["applicant_phone"] and data["channel"] == "walkin"
    assert phone not in json.dumps(out.value)


def test_no_link_beyond_the_horizon_or_to_another_matter() -> None:
    phone = mobile(7)
    results = _feed(
        _processor(horizon=timedelta(days=30)),
        [
            dispute("a", T0, phone=phone),
            dispute("b", T0 + timedelta(days=31), phone=phone),  # too late for a
            dispute("c", T0 + timedelta(days=32), phone=phone, category="family"),
        ],
    )
    assert [r.linked for r in results] == [None, None, None]
    assert all(r.case is not None for r in results)


def test_a_closed_case_takes_no_more_reports() -> None:
    phone = mobile(8)
    p = _processor()
    _feed(p, [dispute("a", T0, phone=phone)])
    p.closed("a")
    [later] = _feed(p, [dispute("b", T0 + timedelta(days=1), phone=phone)])
    assert later.linked is None and later.case is not None


def test_another_applicant_against_the_same_respondent_is_only_possibly_related() -> None:
    first, other = _feed(
        _processor(),
        [
            dispute("a", T0, phone=mobile(9)),
            dispute("b", T0 + timedelta(hours=3), phone=mobile(10), channel="miniapp"),
        ],
    )
    assert other.linked is None and other.case is not None
    routed = other.outs[0].value
    assert routed["type"] == "case.routed.v1" and routed["data"]["related"] == ["a"]
    assert "related" not in first.outs[0].value["data"]


def test_linking_is_deterministic_under_replay_and_restart() -> None:
    history = [
        dispute(
            f"r-{i}",
            T0 + timedelta(hours=i),
            phone=mobile(20 + i % 3),
            channel=("hotline", "walkin", "miniapp")[i % 3],
        )
        for i in range(9)
    ]

    def outcomes(results: list[IntakeResult]) -> list[Any]:
        return [(r.linked, [o.value for o in r.outs]) for r in results]

    rows: dict = {}
    p = _processor(rows)
    first = outcomes(_feed(p, history))
    rows.update(p.links.take() if p.links else [])  # what the worker writes to its table
    # a fresh processor over the same rows (a restart: the table recovered from its
    # changelog) and one over no rows (the whole history replayed) decide the same
    again = outcomes(_feed(_processor(rows), history))
    replayed = outcomes(_feed(_processor(), history))
    assert first == again == replayed
    linked = [r for r, _ in first if r is not None]
    assert len(linked) == 6 and {r.case_id for r in linked} == {"r-0", "r-1", "r-2"}


def test_unlink_routes_the_report_as_a_case_of_its_own() -> None:
    phone = mobile(30)
    rows: dict = {}
    p = _processor(rows)
    _, linked = _feed(p, [dispute("a", T0, phone=phone), dispute("b", T0, phone=phone)])
    assert linked.linked is not None
    result = p.unlink("a", "b")
    assert result.case is not None and result.case.case_id == "b"
    [out] = result.outs
    assert out.value["id"] == "b/routed" and out.value["data"]["related"] == ["a"]
    assert p.unlink("a", "b").outs == []  # applied once
    # the report stays a case of its own when its history is replayed (dedupe forgotten)
    rows.update(p.links.take() if p.links else [])
    [again] = _feed(_processor(rows), [dispute("b", T0, phone=phone)])
    assert again.linked is None and again.case is not None


def test_expire_forgets_cases_past_the_horizon() -> None:
    index = LinkIndex({}, LinkConfig(salt=SALT))
    k = LinkKeys(strong=("applicant_phone:x",))
    index.decide("a", "dispute", k, T0.timestamp(), "hotline", 0)
    index.decide("b", "dispute", k, (T0 + timedelta(days=10)).timestamp(), "hotline", 0)
    assert len(index) == 1
    assert index.expire((T0 + timedelta(days=11)).timestamp()) == 1
    assert len(index) == 0
    assert [v for _, v in index.take()] == [None]


def test_two_cases_linked_by_hand_take_each_others_later_reports() -> None:
    rows: dict = {}
    p = _processor(rows)
    a, b = mobile(40), mobile(41)
    _feed(p, [dispute("a", T0, phone=a), dispute("b", T0, phone=b, respondent="另一公司")])
    assert p.merged("a", "b") and not p.merged("a", "b")  # applied once
    [later] = _feed(p, [dispute("b2", T0 + timedelta(days=1), phone=b, channel="walkin")])
    assert later.linked is not None and later.linked.case_id == "a"
    # unlinking b reopens it here, and routes nothing: it was a case already
    assert p.unlink("a", "b").outs == []
    assert p.links is not None and p.links.row("b") is not None
    # b2 stays a report of a (unlinked was b alone), so b's phone still leads to a, the earlier
    [again] = _feed(p, [dispute("b3", T0 + timedelta(days=2), phone=b, channel="miniapp")])
    assert again.linked is not None and again.linked.case_id == "a"


def test_a_link_names_its_keys_or_its_actor() -> None:
    from pydantic import ValidationError

    from schemas.events import CaseLinked

    base = {"case_id": "a", "report_id": "b", "channel": "walkin"}
    assert CaseLinked.model_validate({**base, "actor": "acct-1"}).matched == []
    with pytest.raises(ValidationError, match="matched"):
        CaseLinked.model_validate(base)
    with pytest.raises(ValidationError):
        CaseLinked.model_validate({**base, "matched": ["13900000001"]})  # a value, not a name


def test_a_petitioner_coming_back_joins_their_petition() -> None:
    def petition(event_id: str, when: datetime, who: dict | None, agency: str) -> dict:
        data: dict[str, Any] = {
            "street": "puzhou",
            "category": "housing",
            "petitioner_count": 1,
            "target_agency": agency,
            "channel": "letter",
            "summary": "拆迁安置",
        }
        if who is not None:
            data["petitioner"] = who
        return {
            "id": event_id,
            "source": "letter/longwan-xinfang",
            "type": "petition.filed.v1",
            "time": when.isoformat(),
            "subject": None,
            "data": data,
        }

    idno = id_number(9)
    p = _processor()
    results = [
        p.handle(_raw(e), "intake.petitions", 0, i, NOW)
        for i, e in enumerate(
            [
                petition("p-1", T0, {"id_number": idno}, "区住建局"),
                petition("p-2", T0 + timedelta(days=3), {"id_number": idno.lower()}, "区 住建局"),
                petition("p-3", T0 + timedelta(days=4), {"id_number": idno}, "区信访局"),
                petition("p-4", T0 + timedelta(days=5), None, "区住建局"),
            ]
        )
    ]
    assert [r.linked.case_id if r.linked else None for r in results] == [None, "p-1", None, None]
    assert results[1].outs[0].value["data"]["matched"] == ["petitioner_id"]
    # the same matter without a petitioner named: only possibly related
    assert results[3].outs[0].value["data"]["related"] == ["p-1"]


def test_the_salt_setting_reaches_the_worker_and_never_its_repr() -> None:
    from pydantic import SecretStr

    from fengqiao.settings import Settings
    from fengqiao.workerwiring import worker_config

    s = Settings(link_salt=SecretStr("pepper-17"), link_horizon_days=10)
    cfg = worker_config(s)
    assert cfg.linking.salt == b"pepper-17" and cfg.linking.horizon == timedelta(days=10)
    assert "pepper-17" not in repr(cfg) and "pepper-17" not in repr(s)


def _expected(
    rows: dict[str, Any], case_id: str, kind: str, keys: tuple[str, ...], t: float, h: float
) -> list[tuple[float, str, set[str]]]:
    """Every open case a report may meet, read the slow way from every row: (opened, case id,
    the shared keys), earliest first."""
    out = []
    for cid, row in rows.items():
        if cid == case_id or row["kind"] != kind or abs(t - float(row["t"])) > h:
            continue
        own = set(row["strong"]) | set(row["weak"])
        for report in row["reports"].values():
            own |= set(report["strong"]) | set(report["weak"])
        shared = own & set(keys)
        if shared:
            out.append((float(row["t"]), cid, shared))
    return sorted(out, key=lambda c: (c[0], c[1]))


@pytest.mark.parametrize("seed", range(6))
def test_the_index_decides_as_a_read_of_every_row_would(seed: int) -> None:
    """Random reports over a few shared keys, out of time order and across the horizon, with
    cases closed, merged, unlinked and expired and the index rebuilt now and then: every
    decision is the one a read of every row gives (the earliest case sharing a strong key;
    the earliest ``related_max`` sharing a weak one)."""
    import random

    from streams.linking import Linked

    rng = random.Random(seed)
    cfg = LinkConfig(horizon=timedelta(days=30), related_max=3)
    h = cfg.horizon.total_seconds()
    rows: dict[str, Any] = {}
    index = LinkIndex(rows, cfg)
    strong_pool = [f"applicant_{name}:{i}" for name in ("phone", "id") for i in range(6)]
    weak_pool = [f"respondent_name+street:{i}" for i in range(5)]
    t0 = T0.timestamp()
    decided = 0
    for n in range(600):
        op = rng.random()
        ids = list(rows)
        if op < 0.05 and ids:
            index.close(rng.choice(ids))
        elif op < 0.08 and len(ids) > 1:
            index.merge(*rng.sample(ids, 2))
        elif op < 0.11 and ids:
            cid = rng.choice(ids)
            reports = list(rows[cid]["reports"])
            if reports:
                index.unlink(cid, rng.choice(reports))
        elif op < 0.12:
            index.expire(t0 + rng.uniform(0, 40) * 86400 - h)
        elif op < 0.15:
            index.invalidate()
        else:
            case_id = f"c{n}"
            kind = rng.choice(["dispute", "dispute", "wage_arrears"])
            t = t0 + rng.uniform(0, 90) * 86400  # 90 days: beyond the horizon both ways
            strong = tuple(rng.sample(strong_pool, rng.randint(0, 3)))
            weak = tuple(rng.sample(weak_pool, rng.randint(0, 2)))
            first = _expected(rows, case_id, kind, strong, t, h)
            related = _expected(rows, case_id, kind, weak, t, h)
            outcome = index.decide(case_id, kind, LinkKeys(strong, weak), t, "hotline", 0)
            if first:
                _, target, shared = first[0]
                assert isinstance(outcome, Linked)
                assert outcome.case_id == target
                assert set(outcome.matched) == {k.split(":")[0] for k in shared}
            else:
                assert not isinstance(outcome, Linked)
                assert outcome.related == tuple(c[1] for c in related[: cfg.related_max])
            decided += 1
        for key, row in index.take():
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
    assert decided > 400


def test_a_report_on_a_crowded_matter_reads_only_the_cases_it_needs() -> None:
    """A wave: 1,000 open cases share one matter (a weak key). The next report of it is
    related to the earliest ``related_max`` and reads about as many rows, not all 1,000."""

    class Counting(dict[str, Any]):
        reads = 0

        def get(self, key: str, default: Any = None) -> Any:
            Counting.reads += 1
            return super().get(key, default)

    rows = Counting()
    cfg = LinkConfig(horizon=timedelta(days=30), related_max=10)
    index = LinkIndex(rows, cfg)
    t0 = T0.timestamp()
    for i in range(1000):
        keys = LinkKeys((f"applicant_phone:{i}",), ("matter:one",))
        index.decide(f"c{i:04d}", "petition", keys, t0 + i * 60.0, "hotline", 0)
        for key, row in index.take():
            rows[key] = row
    Counting.reads = 0
    outcome = index.decide(
        "next", "petition", LinkKeys(("applicant_phone:new",), ("matter:one",)), t0 + 1e5, "desk", 0
    )
    assert isinstance(outcome, Opened)
    assert outcome.related == tuple(f"c{i:04d}" for i in range(10))
    assert Counting.reads <= 2 * cfg.related_max + 5  # its own row and the ten related, nearly
