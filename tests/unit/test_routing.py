"""The default routing policy, rule by rule, with its explanations; catalogue and ruleset checks."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import FengqiaoError
from schemas.events import CaseRouted, dump
from schemas.reference.catalogue import RoutingConfigError, build_catalogue, load_catalogue
from streams.cases import Case
from streams.routing import Router, build_router, load_router
from streams.whatif import compare

T0 = datetime(2023, 3, 1, 9, 30, tzinfo=UTC)
DEFAULT_ORDER = (
    "unknown_jurisdiction",
    "group",
    "petition_repeat",
    "petition",
    "medical",
    "traffic",
    "labor",
    "labor_small",
    "large_amount",
    "medium_amount",
    "family",
    "default",
)


def default_ruleset() -> dict[str, Any]:
    return json.loads(resources.files("streams.data").joinpath("ruleset.json").read_text())


def default_catalogue() -> dict[str, Any]:
    return json.loads(
        resources.files("schemas.reference.data").joinpath("catalogue.json").read_text()
    )


def case(**kw: Any) -> Case:
    base: dict[str, Any] = {
        "case_id": "c-1",
        "event_id": "c-1",
        "kind": "dispute",
        "source": "hotline/12348",
        "time": T0,
        "street": "haibin",
        "community": None,
        "category": "contract",
        "head_count": 2,
        "channel": "hotline",
    }
    if "amount" in kw:
        kw["amount_yuan"] = Decimal(kw.pop("amount"))
    base.update(kw)
    if base["kind"] == "wage_arrears":
        base["category"] = "labor"
    return Case(**base)


@pytest.fixture(scope="module")
def router() -> Router:
    return load_router()


# (case fields, committee id, committee type, tier, rule, phrase in "it applies because ...")
POLICY = [
    # 0 unknown jurisdiction: never guessed, even for a group case or a petition
    (dict(street="nowhere"), "longwan-center", "district_center", "district",
     "unknown_jurisdiction", "the street is not in the 龙湾区 catalogue"),
    (dict(street="nowhere", collective=True), "longwan-center", "district_center", "district",
     "unknown_jurisdiction", "the street is not in the 龙湾区 catalogue"),
    (dict(street="nowhere", kind="petition", category="land"), "longwan-center",
     "district_center", "district", "unknown_jurisdiction", "street is not in the"),
    # 1 group
    (dict(collective=True), "longwan-center", "district_center", "district", "group",
     "it is a dispute and it is marked collective"),
    (dict(head_count=5), "longwan-center", "district_center", "district", "group",
     "5 parties are involved, at least 5"),
    (dict(kind="petition", category="housing", head_count=5), "longwan-center",
     "district_center", "district", "group", "it is a petition and 5 petitioners are involved"),
    (dict(kind="wage_arrears", head_count=10, amount="50000"), "longwan-center",
     "district_center", "district", "group", "10 workers are involved, at least 10"),
    # 2 petitions
    (dict(kind="petition", category="land", repeat=True, head_count=4), "longwan-petition-bureau",
     "petition_bureau", "district", "petition_repeat", "it repeats earlier petitions"),
    (dict(kind="petition", category="land", head_count=4), "haibin-petition-desk",
     "petition_desk", "street", "petition", "it is a petition"),
    (dict(kind="petition", category="medical", street="yaoxi", community="yaoxi-01"),
     "yaoxi-petition-desk", "petition_desk", "street", "petition", "it is a petition"),
    # 3 medical, traffic
    (dict(category="medical", amount="500000"), "longwan-medical", "medical", "district",
     "medical", "the category is medical"),
    (dict(category="traffic", community="haibin-01"), "longwan-traffic", "traffic", "district",
     "traffic", "the category is traffic"),
    # 4 labour
    (dict(kind="wage_arrears", head_count=9, amount="10000"), "longwan-labor", "labor",
     "district", "labor", "9 workers are involved, at least 3"),
    (dict(category="labor", head_count=2, amount="100000"), "longwan-labor", "labor", "district",
     "labor", "the amount of 100,000 yuan is at least 100,000 yuan"),
    (dict(kind="wage_arrears", head_count=2, amount="99999.99"), "haibin-street", "street",
     "street", "labor_small", "it is a wage-arrears claim and the category is labor"),
    (dict(category="labor", head_count=2, community="haibin-01"), "haibin-street", "street",
     "street", "labor_small", "the category is labor"),
    # 5 amounts
    (dict(amount="1000000"), "longwan-center", "district_center", "district", "large_amount",
     "the amount of 1,000,000 yuan is at least 1,000,000 yuan"),
    (dict(category="family", amount="2500000.50", community="haibin-01"), "longwan-center",
     "district_center", "district", "large_amount", "2,500,000.50 yuan is at least"),
    (dict(amount="100000", community="haibin-01"), "haibin-street", "street", "street",
     "medium_amount", "the amount of 100,000 yuan is at least 100,000 yuan"),
    # 6 family
    (dict(category="family", community="haibin-02"), "haibin-02-community", "community",
     "community", "family", "it is a dispute and the category is family"),
    (dict(category="family", community="zzz"), "longwan-family", "family", "district", "family",
     "the category is family"),
    (dict(category="family"), "longwan-family", "family", "district", "family",
     "the category is family"),
    # 7 default
    (dict(amount="99999", community="haibin-03"), "haibin-03-community", "community",
     "community", "default", "catch-all"),
    (dict(community="yaoxi-01"), "haibin-street", "street", "street", "default", "catch-all"),
    (dict(), "haibin-street", "street", "street", "default", "catch-all"),
]  # fmt: skip

# Why the fallback was taken, for the rows whose first target did not resolve.
FALLBACK_NOTES = {
    ("family", "zzz"): "The community given is not in the catalogue under 海滨街道, so the "
    "district family dispute committee takes the case.",
    ("family", None): "No community is given, so the district family dispute committee takes "
    "the case.",
    ("default", "yaoxi-01"): "Community 'yaoxi-01' is not in the catalogue under 海滨街道, so "
    "the street mediation committee takes the case.",
    ("default", None): "No community is given, so the street mediation committee takes the case.",
}

DEADLINE_DAYS = {"dispute": 30, "petition": 60, "wage_arrears": 15}


POLICY_IDS = [f"{p[4]}-{i}" for i, p in enumerate(POLICY)]


@pytest.mark.parametrize("fields,committee,ctype,tier,rule,because", POLICY, ids=POLICY_IDS)
def test_default_policy(router, fields, committee, ctype, tier, rule, because) -> None:
    c = case(**fields)
    d = router.route(c)
    assert (d.committee_id, d.committee_type, d.tier, d.rule_id) == (committee, ctype, tier, rule)
    assert d.ruleset_version == "longwan-default-2023.1"
    assert d.ruleset_hash and d.ruleset_hash.startswith("sha256:")
    # reasons: the rule, why it applies, [fallback], where it went, the deadline
    assert d.reasons[0].startswith(f"Rule {rule}: ")
    assert d.reasons[1].startswith("It applies because ") and because in d.reasons[1]
    assert d.committee_name and f"Routed to {d.committee_name} ({committee})" in d.reasons[-2]
    assert d.deadline == T0 + timedelta(days=DEADLINE_DAYS[c.kind])
    assert d.reasons[-1].startswith(f"Due to be concluded by {d.deadline.isoformat()}")
    assert f"{DEADLINE_DAYS[c.kind]} days" in d.reasons[-1]
    note = FALLBACK_NOTES.get((rule, c.community))
    if note is not None:
        assert note in d.reasons
    else:
        assert len(d.reasons) == 4
    # every earlier rule is listed as rejected, in order, with a sentence saying why
    assert [r for r, _ in d.rejected] == list(DEFAULT_ORDER[: DEFAULT_ORDER.index(rule)])
    for _rule, why in d.rejected:
        assert (why[0].isupper() or why[0].isdigit()) and why.endswith(".") and len(why) > 10
    if rule == "unknown_jurisdiction":
        assert "unknown jurisdiction" in " ".join(d.reasons).lower()


# (case fields, rejected rule, its reason)
REJECTIONS = [
    (dict(), "unknown_jurisdiction", "Street 'haibin' (海滨街道) is in the 龙湾区 catalogue."),
    (dict(), "group", "None of its alternatives holds: (1) it is not marked collective, and 2 "
     "parties are involved, fewer than 5; (2) it is a dispute, not a petition; (3) it is a "
     "dispute, not a wage-arrears claim."),
    (dict(kind="wage_arrears", head_count=9), "group",
     "(3) 9 workers are involved, fewer than 10."),
    (dict(kind="petition", category="land"), "petition_repeat", "It repeats no earlier petition."),
    (dict(), "petition", "It is a dispute, not a petition."),
    (dict(kind="wage_arrears"), "medical", "It is a wage-arrears claim, not a dispute."),
    (dict(category="family"), "traffic", "The category is family, not traffic."),
    (dict(kind="wage_arrears", head_count=2, amount="20000"), "labor",
     "2 workers are involved, fewer than 3, and the amount of 20,000 yuan is below 100,000 yuan."),
    (dict(category="contract"), "labor_small", "The category is contract, not labor."),
    (dict(amount="999999"), "large_amount", "The amount of 999,999 yuan is below 1,000,000 yuan."),
    (dict(), "medium_amount", "No amount is given."),
    (dict(category="neighbourhood"), "family", "The category is neighbourhood, not family."),
]  # fmt: skip


@pytest.mark.parametrize("fields,rule,reason", REJECTIONS)
def test_rejected_rules_say_why(router, fields, rule, reason) -> None:
    rejected = dict(router.route(case(**fields)).rejected)
    assert rule in rejected
    assert rejected[rule].endswith(reason) or rejected[rule] == reason


def test_every_default_rule_is_exercised() -> None:
    assert {p[4] for p in POLICY} == set(DEFAULT_ORDER)


def test_decision_becomes_case_routed_event(router) -> None:
    c = case(category="family", community="haibin-02")
    ev = router.route(c).to_event(c)
    assert isinstance(ev, CaseRouted)
    data = dump(ev)
    for key in (
        "case_id", "kind", "street", "category", "committee_id", "committee_type", "tier",
        "rule_id", "ruleset_version", "reasons", "rejected", "deadline",
    ):  # fmt: skip
        assert key in data
    assert data["committee_name"] == "海滨第二社区人民调解委员会"
    assert data["catalogue_version"] == "longwan-2023.1"
    assert data["rejected"][0] == {
        "rule_id": "unknown_jurisdiction",
        "reason": "Street 'haibin' (海滨街道) is in the 龙湾区 catalogue.",
    }
    assert datetime.fromisoformat(data["deadline"]) == T0 + timedelta(days=30)


@pytest.mark.parametrize("fields", [p[0] for p in POLICY], ids=POLICY_IDS)
def test_routed_data_is_the_dump_of_the_event_for_every_policy_row(router, fields) -> None:
    c = case(**fields)
    decision = router.route(c)
    assert decision.routed_data(c) == dump(decision.to_event(c))


def test_routed_data_is_the_dump_of_the_event_for_generated_cases_and_time_zones(router) -> None:
    import random

    from producers.sample import random_event
    from schemas.parse import parse_event
    from streams.cases import case_from_event

    rng = random.Random(3)
    shanghai = timezone(timedelta(hours=8))
    checked = 0
    for i in range(400):
        _kind, ev = random_event(rng, i, when=T0, run="rd")
        c = case_from_event(parse_event(ev))
        if c is None:
            continue
        decision = router.route(c)
        assert decision.routed_data(c) == dump(decision.to_event(c))
        local = replace(
            decision, deadline=decision.deadline.astimezone(shanghai).replace(microsecond=i)
        )
        assert local.routed_data(c) == dump(local.to_event(c))
        checked += 1
    assert checked > 300


def test_catalogue_has_the_longwan_sample() -> None:
    cat = load_catalogue()
    assert len(cat.streets) == 10
    for code, s in cat.streets.items():
        assert s.by_type["street"].id == f"{code}-street"
        assert s.by_type["petition_desk"].tier == "street"
        assert len(s.communities) >= 2
        assert s.name.endswith("街道")
    assert cat.streets["yongzhong"].name == "永中街道"
    for t in ("district_center", "medical", "traffic", "labor", "family", "petition_bureau"):
        (c,) = cat.top_by_type[t]
        assert c.tier == "district" and c.name.startswith("龙湾区")


# --- configurable ruleset --------------------------------------------------------------------


def test_deadlines_and_fixed_targets_come_from_the_ruleset() -> None:
    rs = default_ruleset()
    rs["version"] = "custom-1"
    rs["deadlines_days"] = {"dispute": 10, "petition": 20.5, "wage_arrears": 5}
    rs["rules"].insert(
        1,
        {
            "id": "yaoxi_land",
            "description": "Land disputes in Yaoxi go to the Yaoxi street committee.",
            "description_zh": "瑶溪街道的土地纠纷由瑶溪街道人民调解委员会受理。",
            "when": {"street": ["yaoxi"], "category": ["land"]},
            "target": [{"committee": "yaoxi-street"}],
        },
    )
    r = build_router(rs, load_catalogue())
    d = r.route(case(street="yaoxi", category="land", community="yaoxi-01"))
    assert (d.rule_id, d.committee_id, d.ruleset_version) == (
        "yaoxi_land",
        "yaoxi-street",
        "custom-1",
    )
    assert d.deadline == T0 + timedelta(days=10)
    p = r.route(case(kind="petition", category="land"))
    assert p.deadline == T0 + timedelta(days=20.5)
    assert "20.5 days" in p.reasons[-1]
    assert r.ruleset_hash != load_router().ruleset_hash


def test_settings_paths_are_used(tmp_path: Path) -> None:
    rs = default_ruleset()
    rs["version"] = "from-file"
    (tmp_path / "r.json").write_text(json.dumps(rs))
    (tmp_path / "c.json").write_text(json.dumps(default_catalogue()))
    r = load_router(tmp_path / "r.json", tmp_path / "c.json")
    assert r.version == "from-file" and r.route(case()).committee_id == "haibin-street"


# --- load errors name the entry ----------------------------------------------------------------


def _rules(rs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rs["rules"]}


def _drop(rule_id: str):
    return lambda rs: rs["rules"].remove(_rules(rs)[rule_id])


def _set(rule_id: str, key: str, value: Any):
    return lambda rs: _rules(rs)[rule_id].__setitem__(key, value)


RULESET_ERRORS = [
    ("unknown committee type", _set("medical", "target", ["hospital"]),
     "rule #5 (medical) > target: target 'hospital' is not a committee type"),
    ("no catch-all", _drop("default"), "no catch-all rule"),
    ("catch-all not last",
     lambda rs: rs["rules"].insert(
         3, {"id": "all", "description": "x", "description_zh": "兜底", "target": ["street"]}),
     "rule #4 (all) is a catch-all, so the rules after it can never match: petition, medical"),
    ("duplicate id", _set("traffic", "id", "medical"), "rule #6 (medical): duplicate rule id"),
    ("unknown condition", _set("labor", "when", {"head_count_gt": 3}),
     "rule #7 (labor) > when > head_count_gt: unknown field"),
    ("unknown nested condition",
     _set("group", "when", {"any": [{"kind": ["dispute"], "colective": True}]}),
     "rule #2 (group) > when > any #1 > colective: unknown field"),
    ("unknown kind", _set("medical", "when", {"kind": ["complaint"]}),
     "rule #5 (medical) > when > kind"),
    ("unknown category", _set("medical", "when", {"category": ["medicl"]}),
     "rule #5 (medical) > when: unknown category 'medicl'"),
    ("unknown street", _set("traffic", "when", {"street": ["atlantis"], "category": ["traffic"]}),
     "rule #6 (traffic) > when: unknown street 'atlantis' (not in the catalogue)"),
    ("unknown fixed committee", _set("traffic", "target", [{"committee": "longwan-roads"}]),
     "rule #6 (traffic) > target: target committee 'longwan-roads' is not in the catalogue"),
    ("community last", _set("family", "target", ["community"]),
     "rule #11 (family) > target: target 'community' is last"),
    ("no unknown-street rule", _drop("unknown_jurisdiction"),
     "no rule routes a case whose street is not in the catalogue"),
    ("city type unused but absent", _set("medical", "target", ["city"]), None),
    ("missing deadline", lambda rs: rs["deadlines_days"].pop("petition"),
     "deadlines_days: no deadline for petition"),
    ("zero deadline", lambda rs: rs["deadlines_days"].__setitem__("dispute", 0),
     "deadlines_days > dispute: must be more than 0 days"),
    ("no version", lambda rs: rs.pop("version"), "version: required field is missing"),
]  # fmt: skip


@pytest.mark.parametrize("name,change,message", RULESET_ERRORS, ids=[e[0] for e in RULESET_ERRORS])
def test_ruleset_load_errors_name_the_rule(name, change, message) -> None:
    rs = default_ruleset()
    change(rs)
    if message is None:  # a valid edit: the catalogue has one city committee
        assert build_router(rs, load_catalogue()).route(case(category="medical")).tier == "city"
        return
    with pytest.raises(RoutingConfigError) as err:
        build_router(rs, load_catalogue())
    assert isinstance(err.value, FengqiaoError)
    assert message in str(err.value)


def test_ambiguous_district_type_is_rejected() -> None:
    cat = default_catalogue()
    cat["committees"].append({"id": "longwan-medical-2", "type": "medical", "name": "第二医调委"})
    with pytest.raises(RoutingConfigError) as err:
        build_router(default_ruleset(), build_catalogue(cat))
    assert (
        "rule #5 (medical) > target: target type 'medical' needs exactly one such committee "
        "in the catalogue (found: longwan-medical, longwan-medical-2)" in str(err.value)
    )


def _street(cat: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for s in cat["streets"] if s["code"] == code)


CATALOGUE_ERRORS = [
    ("unknown committee type", lambda c: c["committees"][1].__setitem__("type", "hospital"),
     "committee #2 (longwan-medical) > type: unknown committee type 'hospital'"),
    ("duplicate committee id", lambda c: c["committees"][2].__setitem__("id", "longwan-medical"),
     "committee #3 (longwan-medical): duplicate committee id 'longwan-medical'"),
    ("duplicate across levels",
     lambda c: _street(c, "puzhou")["committees"][0].__setitem__("id", "longwan-center"),
     "street #2 (puzhou) > committee #1 (longwan-center): duplicate committee id"),
    ("duplicate street", lambda c: c["streets"][3].__setitem__("code", "yongzhong"),
     "street #4 (yongzhong): duplicate street code 'yongzhong'"),
    ("duplicate community",
     lambda c: _street(c, "haibin")["communities"][0].__setitem__("code", "yongzhong-01"),
     "street #3 (haibin) > community #1 (yongzhong-01): duplicate community code"),
    ("no street committee", lambda c: _street(c, "tianhe")["committees"].pop(0),
     "street #9 (tianhe): has no committee of type 'street'"),
    ("street type at district level",
     lambda c: c["committees"].append({"id": "x", "type": "street", "name": "x"}),
     "committee #8 (x): type 'street' belongs under a street"),
    ("district type under a street",
     lambda c: _street(c, "yaoxi")["committees"].append(
         {"id": "y", "type": "medical", "name": "y"}),
     "street #7 (yaoxi) > committee #3 (y): type 'medical' cannot sit under a street"),
    ("unknown field", lambda c: _street(c, "yaoxi").__setitem__("nmae", "x"),
     "street #7 (yaoxi) > nmae: unknown field"),
    ("bad code", lambda c: c["streets"][0].__setitem__("code", "Yong Zhong"),
     "street #1 (Yong Zhong) > code"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,change,message", CATALOGUE_ERRORS, ids=[e[0] for e in CATALOGUE_ERRORS]
)
def test_catalogue_load_errors_name_the_entry(name, change, message) -> None:
    cat = copy.deepcopy(default_catalogue())
    change(cat)
    with pytest.raises(RoutingConfigError) as err:
        build_catalogue(cat)
    assert message in str(err.value)


def test_petition_desk_missing_is_a_ruleset_error_naming_the_street() -> None:
    cat = default_catalogue()
    _street(cat, "shacheng")["committees"].pop(1)
    with pytest.raises(RoutingConfigError) as err:
        build_router(default_ruleset(), build_catalogue(cat))
    assert "rule #4 (petition) > target: target 'petition_desk' is last, but streets shacheng" in (
        str(err.value)
    )


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{\n  'rules': []\n}")
    with pytest.raises(RoutingConfigError, match=r"ruleset .*bad.json is not valid JSON.*line 2"):
        load_router(tmp_path / "bad.json")
    with pytest.raises(RoutingConfigError, match="cannot read catalogue"):
        load_router(None, tmp_path / "missing.json")


# --- what-if -------------------------------------------------------------------------------------


def test_compare_reports_moves_of_a_changed_threshold(router) -> None:
    rs = default_ruleset()
    _rules(rs)["large_amount"]["when"] = {"amount_gte": "500000"}
    rs["version"] = "candidate"
    cand = build_router(rs, load_catalogue())
    cases = [
        replace(case(amount=a, street=s), case_id=f"c-{i}")
        for i, (a, s) in enumerate(
            [("600000", "haibin"), ("700000", "haibin"), ("800000", "yaoxi"), ("2000000", "haibin"),
             ("50000", "haibin"), ("150000", "puzhou")]
        )
    ]  # fmt: skip
    diff = compare(cases, router, cand, max_examples=1)
    assert (diff.cases, diff.moved, diff.rule_only) == (6, 3, 0)
    moves = {(m.from_committee, m.to_committee): m for m in diff.sorted_moves()}
    assert set(moves) == {("haibin-street", "longwan-center"), ("yaoxi-street", "longwan-center")}
    m = moves[("haibin-street", "longwan-center")]
    assert m.count == 2 and m.examples == ["c-0"]
    assert dict(m.rules) == {("medium_amount", "large_amount"): 2}
    assert diff.to_dict()["moves"][0]["from_name"] == "海滨街道人民调解委员会"


def test_another_district_supplies_its_own_catalogue() -> None:
    district = ("district_center", "medical", "traffic", "labor", "family", "petition_bureau")
    cat = build_catalogue(
        {
            "format": "fengqiao.catalogue/1",
            "version": "ouhai-1",
            "district": {"code": "ouhai", "name": "瓯海区"},
            "committees": [{"id": f"ouhai-{t}", "type": t, "name": f"瓯海区{t}"} for t in district],
            "streets": [
                {
                    "code": "jingshan",
                    "name": "景山街道",
                    "committees": [
                        {"id": "js-street", "type": "street", "name": "景山街道人民调解委员会"},
                        {"id": "js-desk", "type": "petition_desk", "name": "景山街道访调对接"},
                    ],
                    "communities": [
                        {
                            "code": "js-1",
                            "name": "一社区",
                            "committee": {"id": "js-1-c", "name": "一"},
                        }
                    ],
                }
            ],
        }
    )
    r = build_router(default_ruleset(), cat)
    assert r.route(case(street="jingshan", community="js-1")).committee_id == "js-1-c"
    d = r.route(case(street="haibin"))
    assert (d.committee_id, d.rule_id) == ("ouhai-district_center", "unknown_jurisdiction")
    assert "the street is not in the 瓯海区 catalogue" in d.reasons[1]
