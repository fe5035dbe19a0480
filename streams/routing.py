"""Routing: one explained decision per case, from a compiled ruleset over a committee catalogue.

Rules are tried in order and the first whose conditions hold and whose target resolves
decides. Every decision says which rule decided and why, why each earlier rule did not, which
committee takes the case and by when: as English sentences (``reasons``, ``rejected``) and as
codes with parameters (``explanation``) that ``schemas.explain`` renders in Chinese or English.
A street the catalogue does not know is never guessed, nor echoed. Pure code, no Kafka: the
stream worker, ``fengqiao route`` and ``fengqiao replay`` call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from schemas.errors import FengqiaoError
from schemas.events import CaseRouted, RoutingExplanation
from schemas.events import RejectedRule as RejectedRuleModel
from schemas.explain import KIND_EN
from schemas.reference.catalogue import (
    Catalogue,
    Committee,
    RoutingConfigError,
    load_catalogue,
    read_json,
)
from streams.cases import Case
from streams.conditions import Clause, Item
from streams.ruleset import Rule, compile_ruleset

__all__ = [
    "Decision",
    "Router",
    "RoutingConfigError",
    "RoutingError",
    "load_router",
    "build_router",
]


class RoutingError(FengqiaoError):
    """No rule could decide a case (a ruleset that passed its load checks never raises it)."""


# --- the decision -------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: see streams.cases.Case
class Decision:
    committee_id: str
    committee_type: str
    tier: str
    rule_id: str
    ruleset_version: str
    reasons: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]
    deadline: datetime
    committee_name: str | None = None
    ruleset_hash: str | None = None
    catalogue_version: str | None = None
    # {"reasons": [{code, params}], "rejected": [{rule_id, code, params}]}, one item per
    # sentence of ``reasons`` and ``rejected``; rendered by ``schemas.explain``. Read-only.
    explanation: dict[str, Any] | None = None

    def to_event(self, case: Case) -> CaseRouted:
        return CaseRouted(
            case_id=case.case_id,
            kind=case.kind,
            street=case.sent_street,
            category=case.category,
            committee_id=self.committee_id,
            committee_type=self.committee_type,
            tier=self.tier,
            rule_id=self.rule_id,
            ruleset_version=self.ruleset_version,
            reasons=list(self.reasons),
            rejected=[RejectedRuleModel(rule_id=r, reason=why) for r, why in self.rejected],
            deadline=self.deadline,
            committee_name=self.committee_name,
            ruleset_hash=self.ruleset_hash,
            catalogue_version=self.catalogue_version,
            explanation=(
                RoutingExplanation.model_validate(self.explanation)
                if self.explanation is not None
                else None
            ),
        )

    def routed_data(self, case: Case) -> dict[str, Any]:
        """``dump(self.to_event(case))`` built directly: the intake agent does this for every
        case, and the model round trip cost as much as routing. The event's fields come from
        a validated case and a decision of a validated ruleset, so nothing is left to check;
        a unit test holds the two equal."""
        data: dict[str, Any] = {
            "case_id": case.case_id,
            "kind": case.kind,
            "street": case.sent_street,
            "category": case.category,
            "committee_id": self.committee_id,
            "committee_type": self.committee_type,
            "tier": self.tier,
            "rule_id": self.rule_id,
            "ruleset_version": self.ruleset_version,
            "reasons": list(self.reasons),
            "rejected": [{"rule_id": r, "reason": why} for r, why in self.rejected],
            "deadline": json_time(self.deadline),
        }
        if self.committee_name is not None:
            data["committee_name"] = self.committee_name
        if self.ruleset_hash is not None:
            data["ruleset_hash"] = self.ruleset_hash
        if self.catalogue_version is not None:
            data["catalogue_version"] = self.catalogue_version
        if self.explanation is not None:
            data["explanation"] = self.explanation
        return data


def json_time(t: datetime) -> str:
    """A datetime as pydantic writes it in JSON mode (UTC as ``Z``)."""
    text = t.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- the router ---------------------------------------------------------------------------------


def _days(d: float) -> str:
    return f"{int(d)}" if float(d).is_integer() else f"{d:g}"


def _days_param(d: float) -> int | float:
    return int(d) if float(d).is_integer() else d


NOT_MET_MEMO = 16384
DECIDED_MEMO = 4096  # decisions' fixed parts remembered per router


@lru_cache(maxsize=8192)
def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class Router:
    """Routes cases with one ruleset over one catalogue. Immutable once built."""

    def __init__(
        self,
        *,
        version: str,
        ruleset_hash: str,
        rules: tuple[Rule, ...],
        deadlines_days: dict[str, float],
        catalogue: Catalogue,
        source: str = "",
    ) -> None:
        self.version = version
        self.ruleset_hash = ruleset_hash
        self.rules = rules
        self.deadlines_days = dict(deadlines_days)
        self._deadlines = {k: timedelta(days=d) for k, d in deadlines_days.items()}
        self.catalogue = catalogue
        self.source = source
        # Why a rule did not hold, by its clause's text (which fixes its item): the same few
        # reasons recur case after case, and this is most of the work of routing one.
        self._not_met: dict[tuple[str, str], tuple[tuple[str, str], Item]] = {}
        self._decided: dict[tuple[Any, ...], Any] = {}
        self._days_params = {k: _days_param(d) for k, d in deadlines_days.items()}
        self._rule_items = {
            r.id: {"code": "rule", "params": {"rule": r.id, "description": r.descriptions}}
            for r in rules
        }

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def route(self, case: Case) -> Decision:
        street = self.catalogue.streets.get(case.street)
        rejected: list[tuple[str, str]] = []
        rejected_items: list[Item] = []
        for rule in self.rules:
            ok, why = rule.check(case, street)
            if not ok:
                hit = self._not_met.get((rule.id, why.text))
                if hit is None:
                    hit = (
                        (rule.id, _sentence(why.text)),
                        {"rule_id": rule.id, "code": "not_met", "params": {"why": why.item}},
                    )
                    if len(self._not_met) < NOT_MET_MEMO:
                        self._not_met[(rule.id, why.text)] = hit
                rejected.append(hit[0])
                rejected_items.append(hit[1])
                continue
            notes: list[Clause] = []
            committee: Committee | None = None
            for resolve in rule.resolvers:
                committee, note = resolve(case, street)
                if committee is not None:
                    break
                if note:
                    notes.append(note)
            if committee is None:
                text = (
                    f"its conditions hold ({why.text}), but its target cannot serve this "
                    f"case: {'; '.join(n.text for n in notes)}"
                )
                rejected.append((rule.id, _sentence(text)))
                rejected_items.append(
                    {
                        "rule_id": rule.id,
                        "code": "target_unavailable",
                        "params": {"why": why.item, "notes": [n.item for n in notes]},
                    }
                )
                continue
            return self._decide(case, rule, why, notes, committee, rejected, rejected_items)
        raise RoutingError(f"no rule of ruleset {self.version} decided case {case.case_id}")

    def _decide(
        self,
        case: Case,
        rule: Rule,
        why: Clause,
        notes: list[Clause],
        c: Committee,
        rejected: list[tuple[str, str]],
        rejected_items: list[Item],
    ) -> Decision:
        deadline = case.time + self._deadlines[case.kind]
        due = deadline.isoformat()
        # All but the deadline is fixed by the rule, its clauses, the committee and the kind,
        # and the same few combinations recur; keyed by the clauses' identity, the entry
        # keeping them alive so that an id is never reused while it exists.
        key = (rule.id, id(why), c.id, case.kind, *map(id, notes))
        fixed = self._decided.get(key)
        if fixed is None:
            fixed = self._fixed_part(case, rule, why, notes, c)
            if len(self._decided) < DECIDED_MEMO:
                self._decided[key] = fixed
        reasons, items = fixed[0], fixed[1]
        return Decision(
            committee_id=c.id,
            committee_type=c.type,
            tier=c.tier,
            rule_id=rule.id,
            ruleset_version=self.version,
            reasons=(
                *reasons,
                f"Due to be concluded by {due}: {fixed[2]}",
            ),
            rejected=tuple(rejected),
            deadline=deadline,
            committee_name=c.name,
            ruleset_hash=self.ruleset_hash,
            catalogue_version=self.catalogue.version,
            explanation={
                "reasons": [
                    *items,
                    {
                        "code": "deadline",
                        "params": {
                            "deadline": due,
                            "days": self._days_params[case.kind],
                            "kind": case.kind,
                        },
                    },
                ],
                "rejected": rejected_items,
            },
        )

    def _fixed_part(
        self, case: Case, rule: Rule, why: Clause, notes: list[Clause], c: Committee
    ) -> tuple[tuple[str, ...], tuple[Item, ...], str, Clause, tuple[Clause, ...]]:
        """A decision's reasons and items but the deadline's, the deadline sentence's tail,
        and the clauses they were made from (held so that their ids stay theirs)."""
        days = self.deadlines_days[case.kind]
        reasons = [
            f"Rule {rule.id}: {rule.description}",
            _sentence(f"it applies because {why.text}"),
        ]
        items: list[Item] = [
            self._rule_items[rule.id],
            {"code": "applies", "params": {"why": why.item}},
        ]
        if notes:
            reasons.append(
                _sentence(f"{'; '.join(n.text for n in notes)}, so the {c.label} takes the case")
            )
            items.append(
                {
                    "code": "fallback",
                    "params": {"notes": [n.item for n in notes], "committee_type": c.type},
                }
            )
        reasons.append(f"Routed to {c.name} ({c.id}), the {c.label}, at {c.tier} tier.")
        items.append(
            {
                "code": "routed",
                "params": {"committee": c.id, "committee_type": c.type, "tier": c.tier},
            }
        )
        tail = f"{_days(days)} days from the event time for a {KIND_EN[case.kind]}."
        return tuple(reasons), tuple(items), tail, why, tuple(notes)


def build_router(data: Any, catalogue: Catalogue, where: str = "ruleset") -> Router:
    """Validate a parsed ruleset against a catalogue; every problem names its rule."""
    compiled = compile_ruleset(data, catalogue, where)
    return Router(
        version=compiled.version,
        ruleset_hash=compiled.ruleset_hash,
        rules=compiled.rules,
        deadlines_days=compiled.deadlines_days,
        catalogue=catalogue,
        source=compiled.source,
    )


def load_router(ruleset: Path | None = None, catalogue: Path | None = None) -> Router:
    """The router for a ruleset file and a catalogue file (``None``: the packaged defaults)."""
    cat = load_catalogue(catalogue)
    data, where = read_json(ruleset, "ruleset.json", "ruleset", "streams.data")
    return build_router(data, cat, where)
