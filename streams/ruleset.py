"""The ruleset file: its format, the checks it must pass against a catalogue at load, and its
compilation into rules the router evaluates.

Every problem found is listed at once, each naming its rule (``rule #5 (medical) > target``),
so an operator fixes a file in one round. Pure code, no Kafka.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.events import CaseKind, Channel, DisputeCategory, PetitionCategory
from schemas.reference.catalogue import (
    COMMITTEE_TYPES,
    Catalogue,
    RoutingConfigError,
    content_hash,
    pydantic_problems,
)
from streams import conditions as c
from streams.cases import UNKNOWN_STREET
from streams.conditions import Check, Resolver

CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
CATEGORIES = frozenset(get_args(DisputeCategory)) | frozenset(get_args(PetitionCategory))
STREET_RELATIVE = frozenset({"community", "street", "petition_desk"})
_HAN = re.compile(r"[\u4e00-\u9fff]")


# --- file format ------------------------------------------------------------------------------


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
    # What a mediator reads on the case page: the bureau's staff read Chinese first.
    description_zh: str = Field(min_length=1, max_length=500)
    when: Condition = Field(default_factory=Condition)
    target: list[str | FixedTarget] = Field(min_length=1)

    @field_validator("description_zh")
    @classmethod
    def _is_chinese(cls, value: str) -> str:
        if not _HAN.search(value):
            raise ValueError("must be written in Chinese")
        return value


class RulesetFile(_Strict):
    format: Literal["fengqiao.ruleset/1"]
    version: str = Field(min_length=1, max_length=100)
    description: str | None = None
    deadlines_days: dict[CaseKind, float]
    rules: list[RuleEntry] = Field(min_length=1)


# --- compiled ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    check: Check
    resolvers: tuple[Resolver, ...]
    catch_all: bool
    needs_street: bool  # every target is resolved against the case's street
    description_zh: str = ""

    @property
    def descriptions(self) -> dict[str, str]:
        return {"en": self.description, "zh": self.description_zh}


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    version: str
    ruleset_hash: str
    rules: tuple[Rule, ...]
    deadlines_days: dict[str, float]
    source: str


def _communities(catalogue: Catalogue) -> frozenset[str]:
    """Every community code of the catalogue: the ones a reason may name."""
    return frozenset(code for s in catalogue.streets.values() for code in s.community_names)


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
            checks.append(c.kind(value, CASE_KINDS))
        elif key == "category":
            unknown = [x for x in value if x not in CATEGORIES]
            if unknown:
                problems.append(f"{where}: unknown category {', '.join(map(repr, unknown))}")
            checks.append(c.in_list("category", value, lambda case: case.category))
        elif key == "street":
            unknown = [s for s in value if s not in catalogue.streets]
            if unknown:
                problems.append(
                    f"{where}: unknown street {', '.join(map(repr, unknown))} "
                    "(not in the catalogue)"
                )
            checks.append(
                c.in_list("street", value, lambda case: case.street, known=catalogue.streets)
            )
        elif key == "channel":
            checks.append(c.in_list("channel", value, lambda case: case.channel))
        elif key == "street_known":
            checks.append(c.street_known(value, catalogue.district_code, catalogue.district_name))
        elif key == "community_known":
            checks.append(c.community_known(value, _communities(catalogue)))
        elif key == "collective":
            checks.append(c.flag(value, *c.COLLECTIVE, lambda case: case.collective))
        elif key == "repeat":
            checks.append(c.flag(value, *c.REPEAT, lambda case: case.repeat))
        elif key == "head_count_gte":
            checks.append(c.head_count(value, True))
        elif key == "head_count_lt":
            checks.append(c.head_count(value, False))
        elif key == "amount_gte":
            checks.append(c.amount(value, True))
        elif key == "amount_lt":
            checks.append(c.amount(value, False))
        elif key in ("any", "all"):
            subs = [
                _compile(sub, sub_raw, catalogue, f"{where} > {key} #{i + 1}", problems)
                for i, (sub, sub_raw) in enumerate(zip(value, raw[key], strict=True))
            ]
            nested = any(isinstance(r, dict) and ("any" in r or "all" in r) for r in raw[key])
            nested = nested or any(isinstance(r, dict) and len(r) > 1 for r in raw[key])
            checks.append(c.any_of(subs, nested) if key == "any" else c.all_of(subs))
    if not checks:
        return c.always
    return c.all_of(checks)


def _compile_target(
    rule: RuleEntry, catalogue: Catalogue, where: str, problems: list[str]
) -> tuple[tuple[Resolver, ...], bool]:
    resolvers: list[Resolver] = []
    needs_street = True
    last = len(rule.target) - 1
    for i, t in enumerate(rule.target):
        if isinstance(t, FixedTarget):
            fixed = catalogue.committees.get(t.committee)
            if fixed is None:
                problems.append(
                    f"{where}: target committee {t.committee!r} is not in the catalogue"
                )
                continue
            resolvers.append(c.fixed_resolver(fixed))
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
            resolvers.append(c.community_resolver(_communities(catalogue)))
        elif t in STREET_RELATIVE:
            lacking = [s.code for s in catalogue.streets.values() if t not in s.by_type]
            if lacking and i == last:
                problems.append(
                    f"{where}: target {t!r} is last, but streets {', '.join(lacking)} have no "
                    f"{t!r} committee in the catalogue"
                )
            resolvers.append(c.street_resolver(t))
        else:
            found = catalogue.top_by_type.get(t, ())
            if len(found) != 1:
                have = ", ".join(x.id for x in found) or "none"
                problems.append(
                    f"{where}: target type {t!r} needs exactly one such committee in the "
                    f'catalogue (found: {have}); name one with {{"committee": <id>}}'
                )
                continue
            resolvers.append(c.fixed_resolver(found[0]))
            needs_street = False
    return tuple(resolvers), needs_street


def compile_ruleset(data: Any, catalogue: Catalogue, where: str = "ruleset") -> CompiledRuleset:
    """Validate a parsed ruleset against a catalogue and compile it; every problem names its
    rule, and all of them are reported in one ``RoutingConfigError``."""
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

    if UNKNOWN_STREET in catalogue.streets:
        problems.append(
            f"the catalogue lists a street coded {UNKNOWN_STREET!r}, the code every street it "
            "does not list becomes; give that street another code"
        )
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
                catch_all=check is c.always,
                needs_street=needs_street,
                description_zh=entry.description_zh,
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
    return CompiledRuleset(
        version=f.version,
        ruleset_hash="sha256:" + content_hash(data)[:16],
        rules=tuple(rules),
        deadlines_days={k: float(v) for k, v in f.deadlines_days.items()},
        source=where,
    )
