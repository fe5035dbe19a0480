"""The tests a rule's ``when`` and ``target`` compile to, each answering with a clause that
says why, in English and as a code with parameters (rendered later by ``schemas.explain``).

A clause never echoes what a person sent: a street or community the catalogue does not list
is named as "not in the catalogue". Pure code, called by the router for every case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.explain import CATCH_ALL_EN, HEADS_EN, KIND_EN
from schemas.reference.catalogue import Committee, Street
from streams.cases import Case

Item = dict[str, Any]  # {"code": str, "params": {...}}; shared between decisions, read-only


@dataclass(frozen=True, slots=True)
class Clause:
    """Why one test held or failed: today's English clause and its explanation item."""

    text: str
    item: Item


def clause(text: str, code: str, **params: Any) -> Clause:
    return Clause(text, {"code": code, "params": params})


# A check answers (holds?, why) for a case and its catalogue street (None: street unknown).
Check = Callable[[Case, Street | None], tuple[bool, Clause]]
# A resolver answers (committee, None) or (None, why it cannot serve this case).
Resolver = Callable[[Case, Street | None], tuple[Committee | None, Clause | None]]


def _yuan(amount: Decimal) -> str:
    if amount == amount.to_integral_value():
        return f"{int(amount):,} yuan"
    return f"{amount:,} yuan"


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def in_list(name: str, allowed: list[str], get: Callable[[Case], str], known: Any = None) -> Check:
    """``known`` (streets only): the codes that may be echoed; anything else is not named."""
    allowed_set = frozenset(allowed)
    words = _or(list(allowed))
    memo: dict[str, tuple[bool, Clause]] = {}  # values are few (categories, streets, channels)

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        value = get(case)
        hit = memo.get(value)
        if hit is None:
            if value in allowed_set:
                hit = True, clause(f"the {name} is {value}", "value.is", field=name, value=value)
            elif known is not None and value not in known:
                text = f"the {name} given is not in the catalogue, so it is not {words}"
                return False, clause(text, "street.not_listed", allowed=list(allowed))
            else:
                hit = (
                    False,
                    clause(
                        f"the {name} is {value}, not {words}",
                        "value.is_not",
                        field=name,
                        value=value,
                        allowed=list(allowed),
                    ),
                )
            if len(memo) < MEMO_SIZE:
                memo[value] = hit
        return hit

    return check


def kind(kinds: list[str], all_kinds: tuple[str, ...]) -> Check:
    words = _or([f"a {KIND_EN[k]}" for k in kinds])
    answers = {
        k: (True, clause(f"it is a {KIND_EN[k]}", "kind.is", kind=k))
        if k in kinds
        else (
            False,
            clause(f"it is a {KIND_EN[k]}, not {words}", "kind.is_not", kind=k, allowed=kinds),
        )
        for k in all_kinds
    }

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        return answers[case.kind]

    return check


def street_known(want: bool, district_code: str, district: str) -> Check:
    unknown = clause(
        f"the street is not in the {district} catalogue", "street.unknown", district=district_code
    )
    memo: dict[str, Clause] = {}

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        if street is None:
            return (not want), unknown
        known = memo.get(street.code)
        if known is None:
            known = memo[street.code] = clause(
                f"street {street.code!r} ({street.name}) is in the {district} catalogue",
                "street.known",
                street=street.code,
                district=district_code,
            )
        return want, known

    return check


NO_COMMUNITY = clause("no community is given", "community.none")


def community_unknown(case: Case, street: Street | None, known: Any) -> Clause:
    """A community not under this street; its code is named only if the catalogue has it."""
    code = case.community if case.community in known else None
    what = f"community {code!r}" if code else "the community given"
    where = f" under {street.name}" if street is not None else ""
    params: dict[str, Any] = {}
    if code:
        params["community"] = code
    if street is not None:
        params["street"] = street.code
    return clause(f"{what} is not in the catalogue{where}", "community.unknown", **params)


def community_known(want: bool, known: Any) -> Check:
    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        if case.community is None:
            return (not want), NO_COMMUNITY
        if street is not None and case.community in street.communities:
            name = street.community_names[case.community]
            return want, clause(
                f"community {case.community!r} ({name}) is in the catalogue",
                "community.known",
                community=case.community,
            )
        return (not want), community_unknown(case, street, known)

    return check


def flag(want: bool, yes: Clause, no: Clause, get: Callable[[Case], bool]) -> Check:
    if_true, if_false = (want, yes), (not want, no)

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        return if_true if get(case) else if_false

    return check


COLLECTIVE = (
    clause("it is marked collective", "collective.yes"),
    clause("it is not marked collective", "collective.no"),
)
REPEAT = (
    clause("it repeats earlier petitions", "repeat.yes"),
    clause("it repeats no earlier petition", "repeat.no"),
)


MEMO_SIZE = 1024  # answers remembered per check: head counts and amounts repeat a lot


def head_count(threshold: int, at_least: bool) -> Check:
    memo: dict[tuple[str, int], tuple[bool, Clause]] = {}

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        n = case.head_count
        hit = memo.get((case.kind, n))
        if hit is not None:
            return hit
        heads = HEADS_EN[case.kind]
        if n >= threshold:
            text = f"{n} {heads} are involved, at least {threshold}"
            code = "heads.at_least"
            holds = at_least
        else:
            text = f"{n} {heads} are involved, fewer than {threshold}"
            code = "heads.fewer"
            holds = not at_least
        hit = holds, clause(text, code, kind=case.kind, count=n, threshold=threshold)
        if len(memo) < MEMO_SIZE:
            memo[(case.kind, n)] = hit
        return hit

    return check


NO_AMOUNT = clause("no amount is given", "amount.none")


def amount(threshold: Decimal, at_least: bool) -> Check:
    limit = _yuan(threshold)
    limit_param = str(threshold)

    memo: dict[Decimal, tuple[bool, Clause]] = {}

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        a = case.amount_yuan
        if a is None:
            return (not at_least), NO_AMOUNT
        hit = memo.get(a)
        if hit is not None:
            return hit
        if a >= threshold:
            text, code = f"the amount of {_yuan(a)} is at least {limit}", "amount.at_least"
            holds = at_least
        else:
            text, code = f"the amount of {_yuan(a)} is below {limit}", "amount.below"
            holds = not at_least
        hit = holds, clause(text, code, amount=str(a), threshold=limit_param)
        if len(memo) < MEMO_SIZE:
            memo[a] = hit
        return hit

    return check


def all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    memo: dict[tuple[int, ...], tuple[Clause, list[Clause]]] = {}

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        held: list[Clause] = []
        for c in checks:
            ok, why = c(case, street)
            if not ok:
                return False, why
            held.append(why)
        # The parts' clauses are mostly remembered ones, so the same few combinations recur.
        # Keyed by identity: the entry keeps its parts alive, so an id is never reused for
        # another clause while the entry exists.
        key = tuple(map(id, held))
        hit = memo.get(key)
        if hit is None:
            hit = (
                Clause(
                    " and ".join(h.text for h in held),
                    {"code": "all", "params": {"items": [h.item for h in held]}},
                ),
                held,
            )
            if len(memo) < MEMO_SIZE:
                memo[key] = hit
        return True, hit[0]

    return check


def any_of(checks: list[Check], nested: bool) -> Check:
    memo: dict[tuple[int, ...], tuple[Clause, list[Clause]]] = {}

    def check(case: Case, street: Street | None) -> tuple[bool, Clause]:
        failed: list[Clause] = []
        texts: list[str] = []
        for c in checks:
            ok, why = c(case, street)
            if ok:
                return True, why
            if why.text not in texts:
                failed.append(why)
                texts.append(why.text)
        if len(failed) == 1:
            return False, failed[0]
        # remembered as in all_of, by the identity of the failed parts (kept alive by the entry)
        key = tuple(map(id, failed))
        hit = memo.get(key)
        if hit is None:
            hit = _none_held(failed, nested), failed
            if len(memo) < MEMO_SIZE:
                memo[key] = hit
        return False, hit[0]

    return check


def _none_held(failed: list[Clause], nested: bool) -> Clause:
    """Why none of an ``any`` test's alternatives (two or more, distinct) holds."""
    if not nested:
        return Clause(
            ", and ".join(f.text for f in failed),
            {"code": "any.failed", "params": {"items": [f.item for f in failed]}},
        )
    listed = "; ".join(f"({i}) {f.text}" for i, f in enumerate(failed, 1))
    return Clause(
        f"none of its alternatives holds: {listed}",
        {"code": "any.none", "params": {"items": [f.item for f in failed]}},
    )


CATCH_ALL = clause(CATCH_ALL_EN, "catch_all")


def always(case: Case, street: Street | None) -> tuple[bool, Clause]:
    return True, CATCH_ALL


# --- targets ---------------------------------------------------------------------------------

STREET_UNKNOWN = clause("the street is not in the catalogue", "street.unknown")


def street_resolver(type_: str) -> Resolver:
    lacks: dict[str, Clause] = {}

    def resolve(case: Case, street: Street | None) -> tuple[Committee | None, Clause | None]:
        if street is None:
            return None, STREET_UNKNOWN
        c = street.by_type.get(type_)
        if c is None:
            why = lacks.get(street.code)
            if why is None:
                why = lacks[street.code] = clause(
                    f"{street.name} has no {type_.replace('_', ' ')}",
                    "street.lacks",
                    street=street.code,
                    committee_type=type_,
                )
            return None, why
        return c, None

    return resolve


def community_resolver(known: Any) -> Resolver:
    def resolve(case: Case, street: Street | None) -> tuple[Committee | None, Clause | None]:
        if street is None:
            return None, STREET_UNKNOWN
        if case.community is None:
            return None, NO_COMMUNITY
        c = street.communities.get(case.community)
        if c is None:
            return None, community_unknown(case, street, known)
        return c, None

    return resolve


def fixed_resolver(c: Committee) -> Resolver:
    def resolve(case: Case, street: Street | None) -> tuple[Committee | None, Clause | None]:
        return c, None

    return resolve
