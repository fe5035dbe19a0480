"""Routing: one explained decision per case, from a ruleset and a committee catalogue (data).

Rules are tried in order and the first whose conditions hold and whose target resolves
decides. Every decision says which rule decided and why, why each earlier rule did not, which
committee takes the case and by when. A street the catalogue does not know is never guessed.
Pure code, no Kafka: the stream worker, ``fengqiao route`` and ``fengqiao replay`` call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import FengqiaoError
from schemas.events import CaseKind, CaseRouted, Channel, DisputeCategory, PetitionCategory
from schemas.events import RejectedRule as RejectedRuleModel
from schemas.reference.catalogue import (
    COMMITTEE_TYPES,
    Catalogue,
    Committee,
    RoutingConfigError,
    Street,
    content_hash,
    load_catalogue,
    pydantic_problems,
    read_json,
)
from streams.cases import Case

__all__ = [
    "Decision",
    "Router",
    "RoutingConfigError",
    "RoutingError",
    "load_router",
    "build_router",
]

CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
CATEGORIES = frozenset(get_args(DisputeCategory)) | frozenset(get_args(PetitionCategory))
STREET_RELATIVE = frozenset({"community", "street", "petition_desk"})
KIND_LABEL = {"dispute": "dispute", "petition": "petition", "wage_arrears": "wage-arrears claim"}
HEADS = {"dispute": "parties", "petition": "petitioners", "wage_arrears": "workers"}


class RoutingError(FengqiaoError):
    """No rule could decide a case (a ruleset that passed its load checks never raises it)."""


# --- the decision -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
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

    def to_event(self, case: Case) -> CaseRouted:
        return CaseRouted(
            case_id=case.case_id,
            kind=case.kind,
            street=case.street,
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
        )

    def routed_data(self, case: Case) -> dict[str, Any]:
        """``dump(self.to_event(case))`` built directly: the intake agent does this for every
        case, and the model round trip cost as much as routing. The event's fields come from
        a validated case and a decision of a validated ruleset, so nothing is left to check;
        a unit test holds the two equal."""
        data: dict[str, Any] = {
            "case_id": case.case_id,
            "kind": case.kind,
            "street": case.street,
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
        return data


def json_time(t: datetime) -> str:
    """A datetime as pydantic writes it in JSON mode (UTC as ``Z``)."""
    text = t.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- ruleset file format ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """All given tests must hold; ``any`` holds when one of its conditions does."""

    kind: list[CaseKind] | None = Field(default=None, min_length=1)
    category: list[str] | None = Field(default=None, min_length=1)
    street: list[str] | None = Field(default=None, min_length=1)
    channel: list[Channel] | None = Field(default=None, min_length=1)
    street_known: bool | None = None
    community_known: bool | None = None
    collective: bool | None = None
    repeat: bool | None = None
    head_count_gte: int | None = Field(default=None, ge=1)
    head_count_lt: int | None = Field(default=None, ge=1)
    amount_gte: Decimal | None = Field(default=None, ge=0)
    amount_lt: Decimal | None = Field(default=None, ge=0)
    any: list[Condition] | None = Field(default=None, min_length=1)
    all: list[Condition] | None = Field(default=None, min_length=1)


class FixedTarget(_Strict):
    committee: str = Field(min_length=1)


class RuleEntry(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    description: str = Field(min_length=1, max_length=500)
    when: Condition = Field(default_factory=Condition)
    target: list[str | FixedTarget] = Field(min_length=1)


class RulesetFile(_Strict):
    format: Literal["fengqiao.ruleset/1"]
    version: str = Field(min_length=1, max_length=100)
    description: str | None = None
    deadlines_days: dict[CaseKind, float]
    rules: list[RuleEntry] = Field(min_length=1)


# --- compiled conditions ------------------------------------------------------------------------

# A check answers (holds?, why) for a case and its catalogue street (None: street unknown).
Check = Callable[[Case, Street | None], tuple[bool, str]]


def _yuan(amount: Decimal) -> str:
    if amount == amount.to_integral_value():
        return f"{int(amount):,} yuan"
    return f"{amount:,} yuan"


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _in_list(name: str, allowed: list[str], get: Callable[[Case], str]) -> Check:
    allowed_set = frozenset(allowed)
    words = _or(list(allowed))
    memo: dict[str, tuple[bool, str]] = {}  # values are few (categories, streets, channels)

    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        value = get(case)
        hit = memo.get(value)
        if hit is None:
            if value in allowed_set:
                hit = True, f"the {name} is {value}"
            else:
                hit = False, f"the {name} is {value}, not {words}"
            if len(memo) < 1024:
                memo[value] = hit
        return hit

    return check


def _kind(kinds: list[str]) -> Check:
    words = _or([f"a {KIND_LABEL[k]}" for k in kinds])
    answers = {
        k: (True, f"it is a {KIND_LABEL[k]}")
        if k in kinds
        else (False, f"it is a {KIND_LABEL[k]}, not {words}")
        for k in CASE_KINDS
    }

    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        return answers[case.kind]

    return check


def _street_known(want: bool, district: str) -> Check:
    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        if street is None:
            return (not want), f"street {case.street!r} is not in the {district} catalogue"
        return want, f"street {case.street!r} ({street.name}) is in the {district} catalogue"

    return check


def _community_known(want: bool) -> Check:
    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        if case.community is None:
            return (not want), "no community is given"
        if street is not None and case.community in street.communities:
            name = street.community_names[case.community]
            return want, f"community {case.community!r} ({name}) is in the catalogue"
        where = f" under {street.name}" if street is not None else ""
        return (not want), f"community {case.community!r} is not in the catalogue{where}"

    return check


def _flag(want: bool, yes: str, no: str, get: Callable[[Case], bool]) -> Check:
    if_true, if_false = (want, yes), (not want, no)

    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        return if_true if get(case) else if_false

    return check


def _head_count(threshold: int, at_least: bool) -> Check:
    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        n, heads = case.head_count, HEADS[case.kind]
        if n >= threshold:
            return at_least, f"{n} {heads} are involved, at least {threshold}"
        return (not at_least), f"{n} {heads} are involved, fewer than {threshold}"

    return check


def _amount(threshold: Decimal, at_least: bool) -> Check:
    limit = _yuan(threshold)

    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        a = case.amount_yuan
        if a is None:
            return (not at_least), "no amount is given"
        if a >= threshold:
            return at_least, f"the amount of {_yuan(a)} is at least {limit}"
        return (not at_least), f"the amount of {_yuan(a)} is below {limit}"

    return check


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        held = []
        for c in checks:
            ok, why = c(case, street)
            if not ok:
                return False, why
            held.append(why)
        return True, " and ".join(held)

    return check


def _any(checks: list[Check], nested: bool) -> Check:
    def check(case: Case, street: Street | None) -> tuple[bool, str]:
        failed: list[str] = []
        for c in checks:
            ok, why = c(case, street)
            if ok:
                return True, why
            if why not in failed:
                failed.append(why)
        if not nested or len(failed) == 1:
            return False, ", and ".join(failed)
        listed = "; ".join(f"({i}) {w}" for i, w in enumerate(failed, 1))
        return False, f"none of its alternatives holds: {listed}"

    return check


def _always(case: Case, street: Street | None) -> tuple[bool, str]:
    return True, "it is the catch-all rule for every case no earlier rule took"


def _compile(
    cond: Condition, raw: dict[str, Any], catalogue: Catalogue, where: str, problems: list[str]
) -> Check:
    """Tests in the order the file lists them, so explanations follow the author's order."""
    checks: list[Check] = []
    for key in raw:
        value = getattr(cond, key)
        if value is None:
            continue
        if key == "kind":
            checks.append(_kind(value))
        elif key == "category":
            unknown = [c for c in value if c not in CATEGORIES]
            if unknown:
                problems.append(f"{where}: unknown category {', '.join(map(repr, unknown))}")
            checks.append(_in_list("category", value, lambda c: c.category))
        elif key == "street":
            unknown = [s for s in value if s not in catalogue.streets]
            if unknown:
                problems.append(
                    f"{where}: unknown street {', '.join(map(repr, unknown))} "
                    "(not in the catalogue)"
                )
            checks.append(_in_list("street", value, lambda c: c.street))
        elif key == "channel":
            checks.append(_in_list("channel", value, lambda c: c.channel))
        elif key == "street_known":
            checks.append(_street_known(value, catalogue.district_name))
        elif key == "community_known":
            checks.append(_community_known(value))
        elif key == "collective":
            checks.append(
                _flag(
                    value,
                    "it is marked collective",
                    "it is not marked collective",
                    lambda c: c.collective,
                )  # fmt: skip
            )
        elif key == "repeat":
            checks.append(
                _flag(
                    value,
                    "it repeats earlier petitions",
                    "it repeats no earlier petition",
                    lambda c: c.repeat,
                )  # fmt: skip
            )
        elif key == "head_count_gte":
            checks.append(_head_count(value, True))
        elif key == "head_count_lt":
            checks.append(_head_count(value, False))
        elif key == "amount_gte":
            checks.append(_amount(value, True))
        elif key == "amount_lt":
            checks.append(_amount(value, False))
        elif key in ("any", "all"):
            subs = [
                _compile(sub, sub_raw, catalogue, f"{where} > {key} #{i + 1}", problems)
                for i, (sub, sub_raw) in enumerate(zip(value, raw[key], strict=True))
            ]
            nested = any(isinstance(r, dict) and ("any" in r or "all" in r) for r in raw[key])
            nested = nested or any(isinstance(r, dict) and len(r) > 1 for r in raw[key])
            checks.append(_any(subs, nested) if key == "any" else _all(subs))
    if not checks:
        return _always
    return _all(checks)


# --- compiled targets ---------------------------------------------------------------------------

# A resolver answers (committee, None) or (None, why it cannot serve this case).
Resolver = Callable[[Case, Street | None], tuple[Committee | None, str | None]]


def _street_resolver(type_: str) -> Resolver:
    def resolve(case: Case, street: Street | None) -> tuple[Committee | None, str | None]:
        if street is None:
            return None, f"street {case.street!r} is not in the catalogue"
        c = street.by_type.get(type_)
        if c is None:
            return None, f"{street.name} has no {type_.replace('_', ' ')}"
        return c, None

    return resolve


def _community_resolver(case: Case, street: Street | None) -> tuple[Committee | None, str | None]:
    if street is None:
        return None, f"street {case.street!r} is not in the catalogue"
    if case.community is None:
        return None, "no community is given"
    c = street.communities.get(case.community)
    if c is None:
        return None, f"community {case.community!r} is not in the catalogue under {street.name}"
    return c, None


def _fixed_resolver(c: Committee) -> Resolver:
    def resolve(case: Case, street: Street | None) -> tuple[Committee | None, str | None]:
        return c, None

    return resolve


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    check: Check
    resolvers: tuple[Resolver, ...]
    catch_all: bool
    needs_street: bool  # every target is resolved against the case's street


def _compile_target(
    rule: RuleEntry, catalogue: Catalogue, where: str, problems: list[str]
) -> tuple[tuple[Resolver, ...], bool]:
    resolvers: list[Resolver] = []
    needs_street = True
    last = len(rule.target) - 1
    for i, t in enumerate(rule.target):
        if isinstance(t, FixedTarget):
            c = catalogue.committees.get(t.committee)
            if c is None:
                problems.append(
                    f"{where}: target committee {t.committee!r} is not in the catalogue"
                )
                continue
            resolvers.append(_fixed_resolver(c))
            needs_street = False
            continue
        if t not in COMMITTEE_TYPES:
            problems.append(
                f"{where}: target {t!r} is not a committee type; expected one of "
                f'{", ".join(COMMITTEE_TYPES)} or {{"committee": <id>}}'
            )
            continue
        if t == "community":
            if i == last:
                problems.append(
                    f"{where}: target 'community' is last, but a case may name no community or "
                    "one the catalogue does not list; end the target list with a committee type "
                    "that always resolves (e.g. 'street')"
                )
            resolvers.append(_community_resolver)
        elif t in STREET_RELATIVE:
            lacking = [s.code for s in catalogue.streets.values() if t not in s.by_type]
            if lacking and i == last:
                problems.append(
                    f"{where}: target {t!r} is last, but streets {', '.join(lacking)} have no "
                    f"{t!r} committee in the catalogue"
                )
            resolvers.append(_street_resolver(t))
        else:
            found = catalogue.top_by_type.get(t, ())
            if len(found) != 1:
                have = ", ".join(c.id for c in found) or "none"
                problems.append(
                    f"{where}: target type {t!r} needs exactly one such committee in the "
                    f'catalogue (found: {have}); name one with {{"committee": <id>}}'
                )
                continue
            resolvers.append(_fixed_resolver(found[0]))
            needs_street = False
    return tuple(resolvers), needs_street


# --- the router ---------------------------------------------------------------------------------


def _days(d: float) -> str:
    return f"{int(d)}" if float(d).is_integer() else f"{d:g}"


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

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def route(self, case: Case) -> Decision:
        street = self.catalogue.streets.get(case.street)
        rejected: list[tuple[str, str]] = []
        for rule in self.rules:
            ok, why = rule.check(case, street)
            if not ok:
                rejected.append((rule.id, _sentence(why)))
                continue
            notes: list[str] = []
            committee: Committee | None = None
            for resolve in rule.resolvers:
                committee, note = resolve(case, street)
                if committee is not None:
                    break
                if note:
                    notes.append(note)
            if committee is None:
                rejected.append(
                    (
                        rule.id,
                        _sentence(
                            f"its conditions hold ({why}), but its target cannot serve this "
                            f"case: {'; '.join(notes)}"
                        ),
                    )
                )
                continue
            return self._decide(case, rule, why, notes, committee, rejected)
        raise RoutingError(f"no rule of ruleset {self.version} decided case {case.case_id}")

    def _decide(
        self,
        case: Case,
        rule: Rule,
        why: str,
        notes: list[str],
        c: Committee,
        rejected: list[tuple[str, str]],
    ) -> Decision:
        deadline = case.time + self._deadlines[case.kind]
        reasons = [
            f"Rule {rule.id}: {rule.description}",
            _sentence(f"it applies because {why}"),
        ]
        if notes:
            reasons.append(_sentence(f"{'; '.join(notes)}, so the {c.label} takes the case"))
        reasons.append(f"Routed to {c.name} ({c.id}), the {c.label}, at {c.tier} tier.")
        reasons.append(
            f"Due to be concluded by {deadline.isoformat()}: "
            f"{_days(self.deadlines_days[case.kind])} days from the event time "
            f"for a {KIND_LABEL[case.kind]}."
        )
        return Decision(
            committee_id=c.id,
            committee_type=c.type,
            tier=c.tier,
            rule_id=rule.id,
            ruleset_version=self.version,
            reasons=tuple(reasons),
            rejected=tuple(rejected),
            deadline=deadline,
            committee_name=c.name,
            ruleset_hash=self.ruleset_hash,
            catalogue_version=self.catalogue.version,
        )


@lru_cache(maxsize=8192)
def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def build_router(data: Any, catalogue: Catalogue, where: str = "ruleset") -> Router:
    """Validate a parsed ruleset against a catalogue; every problem names its rule."""
    try:
        f = RulesetFile.model_validate(data)
    except ValidationError as err:
        found = pydantic_problems(err, data)
        raise RoutingConfigError(f"{where} is invalid:\n  " + "\n  ".join(found)) from err

    problems: list[str] = []
    missing = [k for k in CASE_KINDS if k not in f.deadlines_days]
    if missing:
        problems.append(f"deadlines_days: no deadline for {', '.join(missing)}")
    for k, d in f.deadlines_days.items():
        if d <= 0:
            problems.append(f"deadlines_days > {k}: must be more than 0 days")

    rules: list[Rule] = []
    seen: set[str] = set()
    for i, (entry, raw) in enumerate(zip(f.rules, data["rules"], strict=True), 1):
        name = f"rule #{i} ({entry.id})"
        if entry.id in seen:
            problems.append(f"{name}: duplicate rule id {entry.id!r}")
        seen.add(entry.id)
        check = _compile(entry.when, raw.get("when", {}), catalogue, f"{name} > when", problems)
        resolvers, needs_street = _compile_target(entry, catalogue, f"{name} > target", problems)
        rules.append(
            Rule(
                id=entry.id,
                description=entry.description,
                check=check,
                resolvers=resolvers,
                catch_all=check is _always,
                needs_street=needs_street,
            )
        )

    catch_alls = [i for i, r in enumerate(rules) if r.catch_all]
    if not catch_alls:
        problems.append(
            "no catch-all rule: the last rule must have no conditions, so every case is routed "
            f"(last rule is {rules[-1].id!r})"
        )
    else:
        first = catch_alls[0]
        after = [r.id for r in rules[first + 1 :]]
        if after:
            problems.append(
                f"rule #{first + 1} ({rules[first].id}) is a catch-all, so the rules after it "
                f"can never match: {', '.join(after)}"
            )
    unknown_ok = [
        r
        for r, e in zip(rules, f.rules, strict=True)
        if not r.needs_street
        and (r.catch_all or e.when.model_dump(exclude_none=True) == {"street_known": False})
    ]
    if not unknown_ok:
        problems.append(
            "no rule routes a case whose street is not in the catalogue: add one like "
            '{"id": "unknown_jurisdiction", "when": {"street_known": false}, '
            '"target": ["district_center"]} (locations are never guessed)'
        )
    if problems:
        raise RoutingConfigError(f"{where} is invalid:\n  " + "\n  ".join(problems))
    return Router(
        version=f.version,
        ruleset_hash="sha256:" + content_hash(data)[:16],
        rules=tuple(rules),
        deadlines_days={k: float(v) for k, v in f.deadlines_days.items()},
        catalogue=catalogue,
        source=where,
    )


def load_router(ruleset: Path | None = None, catalogue: Path | None = None) -> Router:
    """The router for a ruleset file and a catalogue file (``None``: the packaged defaults)."""
    cat = load_catalogue(catalogue)
    data, where = read_json(ruleset, "ruleset.json", "ruleset", "streams.data")
    return build_router(data, cat, where)
