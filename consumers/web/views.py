"""What the pages show, built from store records: inbox rows, the case page's sections.

Plain functions over records, the catalogue and a language; the routes only fetch and render.
Names of people appear only through ``names`` (account id -> what colleagues see), which the
routes fill for the owning committee's members alone, and through ``report_facts`` (the
parties of a report), which the routes call only for the committee that owns the case.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from consumers.actions import SOURCE as SERVICE_ACTOR
from consumers.reports import ReportRecord
from consumers.store import CaseRecord, HistoryEntry
from consumers.web import i18n, sla
from schemas import explain
from schemas.reference.catalogue import Catalogue


@dataclass(frozen=True)
class Display:
    """What every view needs: the language, the catalogue, local time, the SLA rules."""

    lang: str
    catalogue: Catalogue
    utc_offset: timedelta
    accept_periods: Mapping[str, timedelta]
    warn_fraction: float

    def committee(self, committee_id: str | None) -> str:
        if not committee_id:
            return ""
        c = self.catalogue.committees.get(committee_id)
        return c.name if c else committee_id

    def street(self, code: str) -> str:
        s = self.catalogue.streets.get(code)
        if s is None:
            return code
        return code.capitalize() if self.lang == "en" else s.name  # pinyin, as on a map

    def time(self, at: datetime | None, seconds: bool = False) -> str:
        if at is None:
            return ""
        fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        return at.astimezone(timezone(self.utc_offset)).strftime(fmt)

    def due(self, case: CaseRecord) -> datetime:
        """When the case's running clock is due (its conclusion deadline once none runs)."""
        c = sla.case_clock(
            case.status,
            case.routed_at,
            self.accept_periods.get(case.kind),
            case.deadline,
            case.routed_at,
        )
        return c.due or case.deadline

    def clock(self, case: CaseRecord, now: datetime) -> dict[str, Any]:
        c = sla.case_clock(
            case.status,
            case.routed_at,
            self.accept_periods.get(case.kind),
            case.deadline,
            now,
            self.warn_fraction,
        )
        t = i18n.translator(self.lang)
        if c.clock is None or c.left is None:
            return {"colour": "none", "label": t("done_clock"), "text": "", "due": ""}
        return {
            "colour": c.colour,
            "label": t(f"{c.clock}_clock"),
            "text": sla.human(c.left, self.lang),
            "due": self.time(c.due),
        }


def row(case: CaseRecord, d: Display, now: datetime, names: Mapping[str, str]) -> dict[str, Any]:
    lang = d.lang
    return {
        "case_id": case.case_id,
        "kind": i18n.pick(i18n.KIND, case.kind, lang),
        "category": i18n.category(case.category, lang),
        "street": d.street(case.street),
        "committee": d.committee(case.committee_id),
        "status": case.status,
        "status_label": i18n.pick(i18n.STATUS, case.status, lang),
        "assignee": names.get(case.assignee, case.assignee) if case.assignee else "",
        "routed_at": d.time(case.routed_at),
        "clock": d.clock(case, now),
    }


def routing(case: CaseRecord, d: Display) -> dict[str, Any]:
    """The routing decision in the page's language, rendered from the explanation's codes;
    a case routed before explanations existed shows the English sentences its event kept."""
    exp = case.explanation
    if exp:
        lang: explain.Lang = "en" if d.lang == "en" else "zh"
        reasons, rejected_pairs = explain.render_explanation(
            exp, lang, explain.catalogue_names(d.catalogue)
        )
        rejected = [{"rule_id": rule, "reason": why} for rule, why in rejected_pairs]
    else:
        reasons = list(case.reasons)
        rejected = [
            {"rule_id": str(r.get("rule_id", "")), "reason": str(r.get("reason", ""))}
            for r in case.rejected
        ]
    return {
        "rule_id": case.rule_id,
        "ruleset_version": case.ruleset_version,
        "tier": i18n.pick(i18n.TIER, case.tier, d.lang),
        "committee": d.committee(case.committee_id),
        "reasons": reasons,
        "rejected": rejected,
        "translated": bool(exp),
    }


def history(
    entries: list[HistoryEntry], d: Display, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Every event of the case, oldest first, with who (the account) and when."""
    t = i18n.translator(d.lang)
    out = []
    for e in sorted(entries, key=lambda e: e.time):
        data = e.data
        detail: list[str] = []
        if e.type == "case.routed.v1":
            detail.append(d.committee(data.get("committee_id")))
        elif e.type == "case.assigned.v1":
            mid = data.get("mediator_id")
            detail.append(f"{t('assign_to')} {names.get(mid, mid) if mid else ''}")
        elif e.type == "case.transferred.v1":
            detail.append(f"→ {d.committee(data.get('to_committee_id'))}")
            if data.get("reason"):
                detail.append(f"{t('reason')}: {data['reason']}")
        elif e.type in ("case.linked.v1", "case.unlinked.v1"):
            detail.append(f"{t('report')} {data.get('report_id', '')}")
            if data.get("reason"):
                detail.append(f"{t('reason')}: {data['reason']}")
        elif e.type == "case.concluded.v1":
            detail.append(i18n.pick(i18n.OUTCOME, data.get("outcome"), d.lang))
            if data.get("agreed_amount_yuan") not in (None, ""):
                detail.append(f"{t('amount')} {data['agreed_amount_yuan']} 元")
        actor = data.get("actor") if isinstance(data.get("actor"), str) else None
        if actor == SERVICE_ACTOR:  # a link by hand through a committee's token names the API
            actor = None
        # Without an actor a lifecycle event came through a committee's API token; but routing
        # and a report the worker linked by its keys are the system's own.
        by_token = actor is None and e.type not in ("case.routed.v1", "case.linked.v1")
        out.append(
            {
                "time": d.time(e.time, seconds=True),
                "event": i18n.pick(i18n.EVENT, e.type, d.lang),
                "actor_id": actor or "",
                "actor": (names.get(actor, "") if actor else "") or "",
                "system": actor is None,
                "by": t("by_token") if by_token else t("system"),
                "committee": d.committee(e.committee_id),
                "detail": "；".join(x for x in detail if x)
                if d.lang != "en"
                else "; ".join(detail),
                "applied": e.applied,
                "note": e.note or "",
            }
        )
    return out


def alerts(rows: list[dict[str, Any]], d: Display) -> list[dict[str, Any]]:
    return [
        {
            "type": i18n.pick(i18n.SLA_ALERT, r.get("type"), d.lang),
            "breach": r.get("type") == "sla.breached.v1",
            "clock": i18n.pick(i18n.CLOCK, r.get("clock"), d.lang),
            "due": d.time(r.get("due")),
            "time": d.time(r.get("time")),
        }
        for r in rows
    ]


def incidents_of(case_id: str, incidents: list[dict[str, Any]], d: Display) -> list[dict[str, Any]]:
    from consumers import labels

    out = []
    for inc in incidents:
        if case_id not in (inc.get("case_ids") or []):
            continue
        rule = str(inc.get("rule_id", ""))
        out.append(
            {
                "incident_id": inc.get("incident_id"),
                "rule": rule if d.lang == "en" else labels.INCIDENT_RULES.get(rule, rule),
                "people": inc.get("people"),
                "cases": len(inc.get("case_ids") or []),
                "amount": inc.get("amount_yuan"),
                "window": f"{d.time(inc.get('window_start'))} – {d.time(inc.get('window_end'))}",
            }
        )
    return out


def transfer_choices(current: str, d: Display) -> list[dict[str, Any]]:
    """Committees by Chinese name, grouped: district committees first, then each street's."""
    cat = d.catalogue
    groups: list[dict[str, Any]] = []
    top = [c for cs in cat.top_by_type.values() for c in cs if c.id != current and c.type != "city"]
    groups.append({"label": "区级" if d.lang != "en" else "District", "items": top})
    for s in cat.streets.values():
        items = [c for c in (*s.by_type.values(), *s.communities.values()) if c.id != current]
        groups.append({"label": s.name, "items": items})
    return [
        {"label": g["label"], "committees": [{"id": c.id, "name": c.name} for c in g["items"]]}
        for g in groups
        if g["items"]
    ]


def report_facts(
    reports: list[ReportRecord],
    case: CaseRecord,
    d: Display,
    linked: Collection[str] = (),
    cases: Collection[str] = (),
) -> dict[str, Any]:
    """The facts of the case's reports: the one that opened the case in full, and a line
    for each other report of it (a repeat report, or one linked to the case). ``linked``
    names the reports the history links to the case: those a mediator may split off;
    ``cases`` those of them that are cases of their own (linked by hand).

    Personal data (names, phones, id numbers): the route calls this for the owning committee
    only."""
    if not reports:
        return {"main": None, "also": []}
    own = [r for r in reports if r.case_id == case.case_id]
    main = own[0] if own else reports[0]
    t = i18n.translator(d.lang)
    also = [
        {
            "line": t("also_reported", via=_via(r, d.lang), when=d.time(r.time)),
            "facts": _facts(r, d, case),
            "report_id": r.report_id,
            "unlinkable": r.report_id in linked,
            "is_case": r.report_id in cases,
        }
        for r in reports
        if r is not main
    ]
    return {"main": _facts(main, d, case), "also": also}


def _via(r: ReportRecord, lang: str) -> str:
    """How a report came in, as a person says it: "12348 热线" for a service number,
    else the channel and the integration that sent it."""
    channel = i18n.pick(i18n.CHANNEL, r.channel, lang)
    tail = r.source.split("/", 1)[1] if "/" in r.source else ""
    if tail.isdigit():
        return f"{tail} {channel}"
    return f"{channel}（{r.source}）" if lang != "en" else f"{channel} ({r.source})"


def _yuan(value: Any, lang: str) -> str:
    if value in (None, ""):
        return ""
    try:
        text = f"{Decimal(str(value)):,}"
    except InvalidOperation:
        text = str(value)
    return i18n.translator(lang)("yuan", x=text)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _facts(r: ReportRecord, d: Display, case: CaseRecord) -> dict[str, Any]:
    """One report's rows (what the case's own rows above do not already say), its summary
    and its parties."""
    lang, data = d.lang, r.data
    t = i18n.translator(lang)
    street = d.catalogue.streets.get(r.street)
    community = ""
    if r.community:
        community = (street.community_names.get(r.community) if street else None) or r.community
    rows: list[tuple[str, str]] = []
    if r.kind != case.kind:
        rows.append((t("report_kind"), i18n.pick(i18n.KIND, r.kind, lang)))
    rows += [(t("channel"), _via(r, lang)), (t("reported_at"), d.time(r.time))]
    if r.street != case.street:
        rows.append((t("report_street"), d.street(r.street)))
    if community:
        rows.append((t("community"), community))
    if data.get("category") and data["category"] != case.category:
        rows.append((t("report_category"), i18n.category(str(data["category"]), lang)))
    amount = _yuan(data.get("amount_yuan"), lang)
    if amount:
        rows.append((t("amount_involved"), amount))
    if r.kind == "dispute":
        if data.get("party_count"):
            rows.append((t("party_count"), t("persons", n=data["party_count"])))
        if data.get("collective"):
            rows.append((t("collective"), t("yes")))
    elif r.kind == "wage_arrears":
        employer = data.get("employer") or {}
        rows.append((t("employer"), _text(employer.get("name"))))
        if employer.get("credit_code"):
            rows.append((t("credit_code"), _text(employer["credit_code"])))
        project = data.get("project") or {}
        if project.get("name") or project.get("code"):
            rows.append(
                (
                    t("project"),
                    " · ".join(_text(x) for x in (project.get("name"), project.get("code")) if x),
                )
            )
        if data.get("worker_count"):
            rows.append((t("worker_count"), t("persons", n=data["worker_count"])))
        if data.get("months_owed") is not None:
            rows.append((t("months_owed"), t("months", n=data["months_owed"])))
        contact = data.get("contact") or {}
        if contact.get("name") or contact.get("phone"):
            rows.append(
                (
                    t("contact"),
                    " · ".join(_text(x) for x in (contact.get("name"), contact.get("phone")) if x),
                )
            )
    elif r.kind == "petition":
        rows.append((t("target_agency"), _text(data.get("target_agency"))))
        if data.get("petitioner_count"):
            rows.append((t("petitioner_count"), t("persons", n=data["petitioner_count"])))
        if data.get("repeat_of"):
            rows.append((t("repeat_of"), "、".join(_text(x) for x in data["repeat_of"])))
    parties = [
        {
            "role": i18n.pick(i18n.PARTY_ROLE, p.get("role"), lang),
            "kind": i18n.pick(i18n.PARTY_KIND, p.get("kind"), lang),
            "name": _text(p.get("name")),
            "phone": _text(p.get("phone")),
            "id_number": _text(p.get("id_number")),
            "credit_code": _text(p.get("credit_code")),
        }
        for p in data.get("parties") or []
        if isinstance(p, dict)
    ]
    return {
        "report_id": r.report_id,
        "rows": rows,
        "summary": _text(data.get("summary")),
        "parties": parties,
        "has_parties": r.kind == "dispute",
    }
