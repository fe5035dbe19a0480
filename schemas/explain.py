"""Routing explanations as a person reads them: a code with parameters rendered in Chinese or
English.

A routing decision carries its reasons as ``{"code", "params"}`` items (``case.routed.v1``'s
``explanation``); this module turns one into a sentence, so a page renders the same decision
in either language long after it was made. Params hold catalogue codes, numbers, rule ids and
the ruleset's own description texts, never a value a person sent. Pure code: any package may
import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from schemas.reference.catalogue import TYPE_LABEL, Catalogue, load_catalogue
from schemas.reference.labels import CATEGORY_ZH

Lang = Literal["zh", "en"]
Names = Callable[[str], str | None]
Params = Mapping[str, Any]

# --- what a reader calls each code ----------------------------------------------------------

KIND_EN = {"dispute": "dispute", "petition": "petition", "wage_arrears": "wage-arrears claim"}
KIND_ZH = {"dispute": "矛盾纠纷", "petition": "信访", "wage_arrears": "欠薪"}
HEADS_EN = {"dispute": "parties", "petition": "petitioners", "wage_arrears": "workers"}
HEADS_ZH = {"dispute": "当事人", "petition": "信访人", "wage_arrears": "劳动者"}
FIELD_ZH = {"category": "纠纷类别", "street": "街道", "channel": "受理渠道"}
CHANNEL_ZH = {
    "hotline": "热线电话",
    "miniapp": "小程序",
    "walkin": "窗口来访",
    "referral": "转介",
    "web": "网站",
    "letter": "来信",
    "visit": "走访",
}
TYPE_ZH = {
    "community": "社区人民调解委员会",
    "street": "街道人民调解委员会",
    "petition_desk": "街道访调对接工作室",
    "district_center": "区矛盾纠纷调处化解中心",
    "medical": "区医疗纠纷人民调解委员会",
    "traffic": "区道路交通事故纠纷人民调解委员会",
    "labor": "区劳动争议人民调解委员会",
    "family": "区婚姻家庭纠纷人民调解委员会",
    "petition_bureau": "区信访局",
    "city": "市矛盾纠纷调处化解中心",
}
TIER_ZH = {"community": "社区级", "street": "街道级", "district": "区级", "city": "市级"}
# Deadlines are read in the bureau's time zone.
BEIJING = timezone(timedelta(hours=8))


def catalogue_names(catalogue: Catalogue | None = None) -> Names:
    """``names`` for :func:`render`: committee ids, street, community and district codes to
    the catalogue's Chinese names (the packaged catalogue when none is given). A code used in
    two places resolves to the committee first, then the street, the community, the district."""
    cat = catalogue if catalogue is not None else load_catalogue()
    table: dict[str, str] = {cat.district_code: cat.district_name}
    for street in cat.streets.values():
        table.update(street.community_names)
    table.update({code: s.name for code, s in cat.streets.items()})
    table.update({cid: c.name for cid, c in cat.committees.items()})
    return table.get


# --- small pieces ----------------------------------------------------------------------------


def _name(code: str, names: Names | None) -> str:
    found = names(code) if names is not None else None
    return found or code


def _yuan_en(amount: Any) -> str:
    a = _decimal(amount)
    if a == a.to_integral_value():
        return f"{int(a):,} yuan"
    return f"{a:,} yuan"


def _yuan_zh(amount: Any) -> str:
    a = _decimal(amount)
    if a == a.to_integral_value():
        return f"{int(a):,}元"
    return f"{a:,}元"


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _days(d: Any) -> str:
    f = float(d)
    return f"{int(f)}" if f.is_integer() else f"{f:g}"


def _or_en(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _or_zh(words: list[str]) -> str:
    return "或".join(words)


def sentence(text: str) -> str:
    """An English clause as a sentence: capital first letter, full stop at the end."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _sentence_zh(text: str) -> str:
    return text if text.endswith("。") else text + "。"


def _kind_en(k: str) -> str:
    return f"a {KIND_EN.get(k, k)}"


def _value_en(field: str, value: str) -> str:
    return value


def _value_zh(field: str, value: str, names: Names | None) -> str:
    if field == "category":
        return CATEGORY_ZH.get(value, value)
    if field == "channel":
        return CHANNEL_ZH.get(value, value)
    return _name(value, names)


def _date_zh(iso: str) -> str:
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(BEIJING)
    except ValueError:
        return iso
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（北京时间）"


# --- templates ----------------------------------------------------------------------------------

Template = Callable[[Params, Lang, "Names | None"], str]


def _items(p: Params, key: str, lang: Lang, names: Names | None) -> list[str]:
    return [render(i.get("code", ""), i.get("params") or {}, lang, names) for i in p.get(key, [])]


def _t_kind_is(p: Params, lang: Lang, names: Names | None) -> str:
    if lang == "zh":
        return f"案件类型为{KIND_ZH.get(p['kind'], p['kind'])}"
    return f"it is {_kind_en(p['kind'])}"


def _t_kind_is_not(p: Params, lang: Lang, names: Names | None) -> str:
    if lang == "zh":
        allowed = _or_zh([KIND_ZH.get(k, k) for k in p["allowed"]])
        return f"案件类型为{KIND_ZH.get(p['kind'], p['kind'])}，不是{allowed}"
    return f"it is {_kind_en(p['kind'])}, not {_or_en([_kind_en(k) for k in p['allowed']])}"


def _t_value_is(p: Params, lang: Lang, names: Names | None) -> str:
    field, value = p["field"], p["value"]
    if lang == "zh":
        return f"{FIELD_ZH.get(field, field)}为{_value_zh(field, value, names)}"
    return f"the {field} is {_value_en(field, value)}"


def _t_value_is_not(p: Params, lang: Lang, names: Names | None) -> str:
    field, value, allowed = p["field"], p["value"], p["allowed"]
    if lang == "zh":
        words = _or_zh([_value_zh(field, a, names) for a in allowed])
        return f"{FIELD_ZH.get(field, field)}为{_value_zh(field, value, names)}，不是{words}"
    return f"the {field} is {_value_en(field, value)}, not {_or_en(list(allowed))}"


def _t_street_not_listed(p: Params, lang: Lang, names: Names | None) -> str:
    if lang == "zh":
        words = _or_zh([_name(a, names) for a in p["allowed"]])
        return f"所报街道不在目录中，因此不是{words}"
    return f"the street given is not in the catalogue, so it is not {_or_en(list(p['allowed']))}"


def _t_street_known(p: Params, lang: Lang, names: Names | None) -> str:
    street, district = p["street"], _name(p["district"], names)
    if lang == "zh":
        return f"街道 {_name(street, names)}（{street}）在{district}目录中"
    return f"street {street!r} ({_name(street, names)}) is in the {district} catalogue"


def _t_street_unknown(p: Params, lang: Lang, names: Names | None) -> str:
    district = p.get("district")
    if lang == "zh":
        return f"所报街道不在{_name(district, names)}目录中" if district else "所报街道不在目录中"
    if district:
        return f"the street is not in the {_name(district, names)} catalogue"
    return "the street is not in the catalogue"


def _t_street_lacks(p: Params, lang: Lang, names: Names | None) -> str:
    street, type_ = _name(p["street"], names), p["committee_type"]
    if lang == "zh":
        return f"{street}没有{TYPE_ZH.get(type_, type_)}"
    return f"{street} has no {type_.replace('_', ' ')}"


def _t_community_none(p: Params, lang: Lang, names: Names | None) -> str:
    return "未填写社区" if lang == "zh" else "no community is given"


def _t_community_known(p: Params, lang: Lang, names: Names | None) -> str:
    community = p["community"]
    if lang == "zh":
        return f"社区 {_name(community, names)}（{community}）在目录中"
    return f"community {community!r} ({_name(community, names)}) is in the catalogue"


def _t_community_unknown(p: Params, lang: Lang, names: Names | None) -> str:
    community, street = p.get("community"), p.get("street")
    if lang == "zh":
        what = f"社区 {community}" if community else "所报社区"
        where = f"{_name(street, names)}下的" if street else ""
        return f"{what}不在{where}目录中"
    what = f"community {community!r}" if community else "the community given"
    where = f" under {_name(street, names)}" if street else ""
    return f"{what} is not in the catalogue{where}"


def _flag(en: str, zh: str) -> Template:
    return lambda p, lang, names: zh if lang == "zh" else en


def _t_heads(at_least: bool) -> Template:
    def t(p: Params, lang: Lang, names: Names | None) -> str:
        n, threshold, kind = p["count"], p["threshold"], p["kind"]
        if lang == "zh":
            return (
                f"涉及{HEADS_ZH.get(kind, '')}{n}人，{'达到' if at_least else '不足'}{threshold}人"
            )
        heads = HEADS_EN.get(kind, "people")
        return f"{n} {heads} are involved, {'at least' if at_least else 'fewer than'} {threshold}"

    return t


def _t_amount(at_least: bool) -> Template:
    def t(p: Params, lang: Lang, names: Names | None) -> str:
        if lang == "zh":
            word = "达到" if at_least else "低于"
            return f"涉及金额{_yuan_zh(p['amount'])}，{word}{_yuan_zh(p['threshold'])}"
        word = "is at least" if at_least else "is below"
        return f"the amount of {_yuan_en(p['amount'])} {word} {_yuan_en(p['threshold'])}"

    return t


def _t_all(p: Params, lang: Lang, names: Names | None) -> str:
    return ("，且" if lang == "zh" else " and ").join(_items(p, "items", lang, names))


def _t_any_failed(p: Params, lang: Lang, names: Names | None) -> str:
    return ("，且" if lang == "zh" else ", and ").join(_items(p, "items", lang, names))


def _t_any_none(p: Params, lang: Lang, names: Names | None) -> str:
    listed = ("；" if lang == "zh" else "; ").join(
        f"({i}) {w}" for i, w in enumerate(_items(p, "items", lang, names), 1)
    )
    if lang == "zh":
        return f"各项备选条件均不成立：{listed}"
    return f"none of its alternatives holds: {listed}"


def _why(p: Params, lang: Lang, names: Names | None) -> str:
    why = p.get("why") or {}
    return render(why.get("code", ""), why.get("params") or {}, lang, names)


def _t_rule(p: Params, lang: Lang, names: Names | None) -> str:
    texts = p.get("description") or {}
    text = texts.get(lang) or texts.get("en") or texts.get("zh") or ""
    return f"规则 {p['rule']}：{text}" if lang == "zh" else f"Rule {p['rule']}: {text}"


def _t_applies(p: Params, lang: Lang, names: Names | None) -> str:
    if lang == "zh":
        return _sentence_zh(f"适用本规则，因为{_why(p, lang, names)}")
    return sentence(f"it applies because {_why(p, lang, names)}")


def _t_fallback(p: Params, lang: Lang, names: Names | None) -> str:
    type_ = p["committee_type"]
    if lang == "zh":
        notes = "；".join(_items(p, "notes", lang, names))
        return _sentence_zh(f"{notes}，因此由{TYPE_ZH.get(type_, type_)}受理")
    notes = "; ".join(_items(p, "notes", lang, names))
    return sentence(f"{notes}, so the {TYPE_LABEL.get(type_, type_)} takes the case")


def _t_routed(p: Params, lang: Lang, names: Names | None) -> str:
    cid, type_, tier = p["committee"], p["committee_type"], p["tier"]
    if lang == "zh":
        # The catalogue's name already says what kind of committee it is; without names the
        # type is said instead.
        found = names(cid) if names is not None else None
        what = found or TYPE_ZH.get(type_, type_)
        return f"分流至{what}（{cid}，{TIER_ZH.get(tier, tier)}）。"
    label = TYPE_LABEL.get(type_, type_)
    return f"Routed to {_name(cid, names)} ({cid}), the {label}, at {tier} tier."


def _t_deadline(p: Params, lang: Lang, names: Names | None) -> str:
    kind, days = p["kind"], _days(p["days"])
    if lang == "zh":
        return (
            f"应于{_date_zh(p['deadline'])}前办结：{KIND_ZH.get(kind, kind)}自事件发生时间起"
            f"{days}天。"
        )
    return (
        f"Due to be concluded by {p['deadline']}: {days} days from the event time for "
        f"{_kind_en(kind)}."
    )


def _t_not_met(p: Params, lang: Lang, names: Names | None) -> str:
    why = _why(p, lang, names)
    return _sentence_zh(f"不适用：{why}") if lang == "zh" else sentence(why)


def _t_target_unavailable(p: Params, lang: Lang, names: Names | None) -> str:
    why = _why(p, lang, names)
    if lang == "zh":
        notes = "；".join(_items(p, "notes", lang, names))
        return _sentence_zh(f"条件成立（{why}），但其目标无法受理本案：{notes}")
    notes = "; ".join(_items(p, "notes", lang, names))
    return sentence(f"its conditions hold ({why}), but its target cannot serve this case: {notes}")


CATCH_ALL_EN = "it is the catch-all rule for every case no earlier rule took"

TEMPLATES: dict[str, Template] = {
    # clauses: why one test of a rule held or failed
    "kind.is": _t_kind_is,
    "kind.is_not": _t_kind_is_not,
    "value.is": _t_value_is,
    "value.is_not": _t_value_is_not,
    "street.not_listed": _t_street_not_listed,
    "street.known": _t_street_known,
    "street.unknown": _t_street_unknown,
    "street.lacks": _t_street_lacks,
    "community.none": _t_community_none,
    "community.known": _t_community_known,
    "community.unknown": _t_community_unknown,
    "collective.yes": _flag("it is marked collective", "标记为群体性案件"),
    "collective.no": _flag("it is not marked collective", "未标记为群体性案件"),
    "repeat.yes": _flag("it repeats earlier petitions", "属于重复信访"),
    "repeat.no": _flag("it repeats no earlier petition", "不属于重复信访"),
    "heads.at_least": _t_heads(True),
    "heads.fewer": _t_heads(False),
    "amount.none": _flag("no amount is given", "未填写金额"),
    "amount.at_least": _t_amount(True),
    "amount.below": _t_amount(False),
    "catch_all": _flag(CATCH_ALL_EN, "这是兜底规则，接收前面各条规则都未接收的案件"),
    "all": _t_all,
    "any.failed": _t_any_failed,
    "any.none": _t_any_none,
    # sentences: one entry of the decision's reasons or of a rejected rule
    "rule": _t_rule,
    "applies": _t_applies,
    "fallback": _t_fallback,
    "routed": _t_routed,
    "deadline": _t_deadline,
    "not_met": _t_not_met,
    "target_unavailable": _t_target_unavailable,
}
CODES = frozenset(TEMPLATES)


def render(
    code: str,
    params: Params,
    lang: Lang = "zh",
    names: Names | None = None,
) -> str:
    """One explanation item as text. ``names`` turns a committee id or a street, community or
    district code into its display name (see :func:`catalogue_names`); without it codes are
    shown as they are. A code this version does not know (a newer router's) is shown as such
    rather than failing the page that reads it."""
    template = TEMPLATES.get(code)
    if template is None:
        return f"（未知理由：{code}）" if lang == "zh" else f"(unknown reason: {code})"
    try:
        return template(params, lang, names)
    except (KeyError, TypeError, AttributeError, ValueError):
        return (
            f"（理由 {code} 的参数不完整）"
            if lang == "zh"
            else f"(reason {code}: params incomplete)"
        )


def render_explanation(
    explanation: Mapping[str, Any], lang: Lang = "zh", names: Names | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """(reasons, [(rule id, why rejected)]) of a ``case.routed.v1`` explanation, as text."""
    reasons = [
        render(r.get("code", ""), r.get("params") or {}, lang, names)
        for r in explanation.get("reasons", [])
    ]
    rejected = [
        (r.get("rule_id", ""), render(r.get("code", ""), r.get("params") or {}, lang, names))
        for r in explanation.get("rejected", [])
    ]
    return reasons, rejected
