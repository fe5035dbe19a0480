"""Routing explanations: every code the router emits renders in Chinese and English, the
English equals the sentences on the wire, and nothing a person sent is echoed."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from schemas.events import CaseRouted, dump
from schemas.explain import CODES, TEMPLATES, catalogue_names, render, render_explanation
from schemas.reference.catalogue import RoutingConfigError, build_catalogue, load_catalogue
from streams.cases import Case
from streams.routing import Decision, Router, build_router, load_router
from tests.unit.test_routing import POLICY, REJECTIONS, case

HAN = re.compile(r"[\u4e00-\u9fff]")
NAMES = catalogue_names()


def _ruleset() -> dict[str, Any]:
    return json.loads(resources.files("streams.data").joinpath("ruleset.json").read_text())


def _catalogue() -> dict[str, Any]:
    return json.loads(
        resources.files("schemas.reference.data").joinpath("catalogue.json").read_text()
    )


def _rule(rule_id: str, when: dict[str, Any], target: list[Any]) -> dict[str, Any]:
    return {
        "id": rule_id,
        "description": f"Test rule {rule_id}.",
        "description_zh": f"测试规则 {rule_id}。",
        "when": when,
        "target": target,
    }


def exotic_router() -> Router:
    """The default rules behind some that use every other condition and target form, so the
    codes only a custom ruleset reaches are emitted too. Two of them come before the
    unknown-jurisdiction rule on purpose: they see streets the catalogue does not list."""
    rs = _ruleset()
    rs["version"] = "exotic"
    rs["rules"][0:0] = [
        _rule("yaoxi_web", {"street": ["yaoxi", "puzhou"], "channel": ["web"]}, ["street"]),
        _rule(
            "fam_anywhere", {"category": ["family"], "kind": ["dispute"]}, ["community", "street"]
        ),
    ]
    rs["rules"][3:3] = [
        _rule("known_community", {"community_known": True, "head_count_lt": 3,
                                  "amount_lt": "1000", "collective": False},
              ["community", "street"]),
        _rule("no_community", {"community_known": False, "channel": ["letter"],
                               "all": [{"kind": ["petition"]}, {"repeat": False}]},
              ["petition_desk", "street"]),
        _rule("visit", {"channel": ["visit"]}, [{"committee": "longwan-center"}]),
    ]  # fmt: skip
    cat = _catalogue()
    # a street without a petition desk, so the desk target falls back and says why
    shacheng = next(s for s in cat["streets"] if s["code"] == "shacheng")
    shacheng["committees"] = [c for c in shacheng["committees"] if c["type"] != "petition_desk"]
    _rules = {r["id"]: r for r in rs["rules"]}
    _rules["petition"]["target"] = ["petition_desk", "street"]
    return build_router(rs, build_catalogue(cat))


def broad_cases() -> list[Case]:
    """Every policy row and rejection row of the routing tests, generated events, and cases
    aimed at the exotic rules."""
    from producers.sample import random_event
    from schemas.parse import parse_event
    from streams.cases import case_from_event

    out = [case(**dict(p[0])) for p in POLICY] + [case(**dict(r[0])) for r in REJECTIONS]
    rng = random.Random(11)
    for i in range(300):
        _kind, ev = random_event(rng, i, when=datetime(2023, 3, 1, tzinfo=UTC), run="ex")
        c = case_from_event(parse_event(ev))
        if c is not None:
            out.append(c)
    for street in ("yaoxi", "haibin", "nowhere", "shacheng"):
        for channel in ("web", "letter", "visit", "hotline"):
            for community in (None, f"{street}-01", "zzz", "haibin-02"):
                for kind, category in (
                    ("dispute", "family"),
                    ("petition", "land"),
                    ("dispute", "contract"),
                    ("wage_arrears", "labor"),
                ):
                    out.append(case(street=street, channel=channel, community=community,
                                    kind=kind, category=category, amount="500"))  # fmt: skip
    return out


ROUTERS = {"default": load_router(), "exotic": exotic_router()}


def _codes(item: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(item, dict):
        if isinstance(item.get("code"), str):
            found.add(item["code"])
        for v in item.values():
            found |= _codes(v)
    elif isinstance(item, list):
        for v in item:
            found |= _codes(v)
    return found


@pytest.fixture(scope="module")
def decisions() -> list[tuple[Router, Case, Decision]]:
    cases = broad_cases()
    return [(r, c, r.route(c)) for r in ROUTERS.values() for c in cases]


def test_every_code_emitted_has_a_chinese_and_an_english_template(decisions) -> None:
    emitted: set[str] = set()
    for _r, _c, d in decisions:
        assert d.explanation is not None
        emitted |= _codes(d.explanation)
    assert emitted - CODES == set()
    # the cases are broad enough to reach every template there is
    assert emitted == set(TEMPLATES)
    for _r, _c, d in decisions:
        assert d.explanation is not None
        for lang in ("zh", "en"):
            reasons, rejected = render_explanation(d.explanation, lang, NAMES)
            for text in reasons + [why for _, why in rejected]:
                assert text and "{" not in text and "unknown reason" not in text
                assert "未知理由" not in text and "params incomplete" not in text
                assert "参数不完整" not in text
                if lang == "zh":
                    assert HAN.search(text), text


def test_english_rendered_from_the_explanation_equals_the_sentences_on_the_wire(
    decisions,
) -> None:
    for router, _c, d in decisions:
        assert d.explanation is not None
        names = catalogue_names(router.catalogue)
        reasons, rejected = render_explanation(d.explanation, "en", names)
        assert reasons == list(d.reasons)
        assert rejected == list(d.rejected)
        assert [r["rule_id"] for r in d.explanation["rejected"]] == [r for r, _ in d.rejected]


def test_chinese_reasons_of_a_default_case() -> None:
    d = load_router().route(case(category="family", community="zzz"))
    assert d.explanation is not None
    reasons, rejected = render_explanation(d.explanation, "zh", NAMES)
    assert reasons[0].startswith("规则 family：婚姻家庭纠纷：所报社区在目录中的")
    assert reasons[1] == "适用本规则，因为案件类型为矛盾纠纷，且纠纷类别为婚姻家庭。"
    assert reasons[2] == (
        "所报社区不在海滨街道下的目录中，因此由区婚姻家庭纠纷人民调解委员会受理。"
    )
    assert reasons[3] == "分流至龙湾区婚姻家庭纠纷人民调解委员会（longwan-family，区级）。"
    # 2023-03-01 09:30 UTC plus 30 days, read in Beijing time
    assert reasons[4] == "应于2023年3月31日 17:30（北京时间）前办结：矛盾纠纷自事件发生时间起30天。"
    assert (
        dict(rejected)["unknown_jurisdiction"] == "不适用：街道 海滨街道（haibin）在龙湾区目录中。"
    )
    assert dict(rejected)["traffic"] == "不适用：纠纷类别为婚姻家庭，不是交通。"
    assert dict(rejected)["medium_amount"] == "不适用：未填写金额。"


def test_render_without_names_shows_codes_and_survives_unknown_codes() -> None:
    routed = {"committee": "x-1", "committee_type": "street", "tier": "street"}
    assert render("routed", routed, "en") == (
        "Routed to x-1 (x-1), the street mediation committee, at street tier."
    )
    assert render("routed", routed) == "分流至街道人民调解委员会（x-1，街道级）。"
    assert render("heads.fewer", {"kind": "petition", "count": 2, "threshold": 5}) == (
        "涉及信访人2人，不足5人"
    )
    assert render("from.the.future", {}, "en") == "(unknown reason: from.the.future)"
    assert render("routed", {}, "zh") == "（理由 routed 的参数不完整）"
    assert render("deadline", {"kind": "dispute", "days": "many", "deadline": "x"}, "en") == (
        "(reason deadline: params incomplete)"
    )


def test_catalogue_names_covers_committees_streets_communities_and_the_district() -> None:
    names = catalogue_names(load_catalogue())
    assert names("haibin") == "海滨街道"
    assert names("haibin-street") == "海滨街道人民调解委员会"
    assert names("haibin-02") and names("haibin-02-community") == "海滨第二社区人民调解委员会"
    assert names("longwan") == "龙湾区"
    assert names("atlantis") is None


def test_explanation_is_on_the_event_and_validates() -> None:
    c = case(kind="wage_arrears", head_count=2, amount="20000")
    d = load_router().route(c)
    ev = d.to_event(c)
    assert isinstance(ev, CaseRouted) and ev.explanation is not None
    data = dump(ev)
    assert data == d.routed_data(c)
    assert set(data["explanation"]) == {"reasons", "rejected"}
    assert all(set(r) == {"code", "params"} for r in data["explanation"]["reasons"])
    assert all(set(r) == {"rule_id", "code", "params"} for r in data["explanation"]["rejected"])
    # an event without it (an older router's) still validates
    del data["explanation"]
    assert CaseRouted.model_validate(data).explanation is None


def test_explain_imports_nothing_of_streams() -> None:
    code = (
        "import sys, schemas.explain; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('streams', 'faust', 'kafka')]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- nothing a person sent is echoed ------------------------------------------------------------


@pytest.mark.parametrize("router_name", list(ROUTERS))
@pytest.mark.parametrize("street", ["atlantis", "zhang-san-feng", "r"])
def test_an_unknown_street_is_named_not_in_the_catalogue_never_echoed(
    router_name: str, street: str
) -> None:
    router = ROUTERS[router_name]
    for fields in (dict(), dict(channel="web"), dict(category="family", community="bogus-x")):
        c = case(street=street, **fields)
        d = router.route(c)
        assert d.explanation is not None
        text = json.dumps(
            {"reasons": d.reasons, "rejected": d.rejected, "explanation": d.explanation},
            ensure_ascii=False,
        )
        for sent in (street, "bogus-x"):
            assert f"'{sent}'" not in text and f'"{sent}"' not in text, (sent, text)
        assert "not in the" in " ".join(d.reasons) + " ".join(w for _, w in d.rejected)
        # the stored case keeps what was sent
        assert d.routed_data(c)["street"] == street


def test_a_case_whose_street_was_replaced_keeps_what_was_sent_on_the_event() -> None:
    c = replace(case(), street="unknown", street_as_sent="atlantis")
    d = load_router().route(c)
    assert d.rule_id == "unknown_jurisdiction"
    assert d.routed_data(c)["street"] == "atlantis" == dump(d.to_event(c))["street"]
    assert "atlantis" not in json.dumps(d.explanation) + " ".join(d.reasons)


# --- the ruleset's Chinese descriptions ---------------------------------------------------------


def test_every_default_rule_has_a_chinese_description() -> None:
    router = load_router()
    for rule in router.rules:
        assert HAN.search(rule.description_zh), rule.id
    d = router.route(case())
    assert d.explanation is not None
    assert d.explanation["reasons"][0]["params"]["description"] == {
        "en": router.rules[-1].description,
        "zh": router.rules[-1].description_zh,
    }


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda r: r.pop("description_zh"), "rule #5 (medical) > description_zh: required field"),
        (lambda r: r.__setitem__("description_zh", "Medical disputes."),
         "rule #5 (medical) > description_zh: Value error, must be written in Chinese"),
        (lambda r: r.__setitem__("description_zh", ""), "rule #5 (medical) > description_zh"),
    ],
)  # fmt: skip
def test_a_missing_or_non_chinese_description_is_a_load_error_naming_the_rule(
    change: Any, message: str
) -> None:
    rs = _ruleset()
    change(next(r for r in rs["rules"] if r["id"] == "medical"))
    with pytest.raises(RoutingConfigError) as err:
        build_router(rs, load_catalogue())
    assert message in str(err.value)


def test_a_catalogue_street_coded_unknown_is_refused() -> None:
    cat = _catalogue()
    cat["streets"][0]["code"] = "unknown"
    with pytest.raises(RoutingConfigError, match="street coded 'unknown'"):
        build_router(_ruleset(), build_catalogue(cat))


def test_deadline_param_keeps_fractional_days() -> None:
    rs = _ruleset()
    rs["deadlines_days"]["petition"] = 20.5
    d = build_router(rs, load_catalogue()).route(case(kind="petition", category="land"))
    assert d.explanation is not None
    item = d.explanation["reasons"][-1]
    assert item["params"]["days"] == 20.5
    assert item["params"]["deadline"] == (case().time + timedelta(days=20.5)).isoformat()
    assert "20.5天" in render(item["code"], item["params"], "zh")
