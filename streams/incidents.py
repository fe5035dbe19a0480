"""Group-incident rules over event time: which cases belong together, when that is an incident,
and whom it escalates to.

Pure code over a ``MutableMapping`` (a faust table in the worker, a dict in tests) keyed by
``rule|key``. An incident id is derived from (rule, key, window start), so a replay or a
duplicate can never raise the same incident twice; later cases in the window update it.

An incident keeps its case ids and running totals of people and amount, not its members' rows
(a row of an earlier version, with them, is read the same way and rewritten without them): a
wave of thousands of claims against one employer adds a case in constant work, and the row
stays a case id a case. With ``deferred``, the updates of one batch are announced once, with the
incident as the batch left it (``announce``), instead of once per case: each announcement names
every case, so one per case made a wave cost the square of its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.events import EscalationRaised, IncidentDetected, dump
from schemas.reference.keys import normalise_name
from streams.cases import Case
from streams.dueindex import LOOK_EARLY_S
from streams.intake import Out, envelope
from streams.risk import contribution


@dataclass(frozen=True, slots=True)
class Rule:
    """``window`` zero means a single case is the incident (collective disputes, petitions)."""

    rule_id: str
    window: timedelta = timedelta(0)
    min_cases: int | None = None
    min_people: int | None = None

    def qualifies(self, members: list[dict[str, Any]]) -> bool:
        if self.min_cases is not None and len(members) >= self.min_cases:
            return True
        people = sum(int(m["people"]) for m in members)
        return self.min_people is not None and people >= self.min_people


@dataclass(frozen=True)
class IncidentConfig:
    rules: dict[str, Rule] = field(
        default_factory=lambda: {
            r.rule_id: r
            for r in (
                Rule("wage_employer", timedelta(days=7), min_cases=3, min_people=10),
                Rule("dispute_collective", min_cases=1),
                Rule("dispute_respondent", timedelta(days=7), min_cases=3),
                Rule("petition_collective", min_cases=1),
                Rule("petition_matter", timedelta(days=30), min_cases=3),
            )
        }
    )
    dispute_collective_min_parties: int = 5
    petition_collective_min_petitioners: int = 5
    grace: timedelta = timedelta(hours=24)
    retention: timedelta = timedelta(days=90)
    city_people: int = 50
    city_amount_yuan: Decimal = Decimal(1_000_000)
    district_committee: str = "district-center"
    city_committee: str = "city"
    incident_risk_weight: float = 10.0


def state_key(rule_id: str, key: str) -> str:
    return f"{rule_id}|{key}"


def candidates(case: Case, cfg: IncidentConfig) -> list[tuple[str, str]]:
    """(rule id, grouping key) pairs this case takes part in; rules missing from cfg are off."""
    out: list[tuple[str, str]] = []
    if case.kind == "wage_arrears" and case.employer_key:
        out.append(("wage_employer", case.employer_key))
    elif case.kind == "dispute":
        if case.collective or case.head_count >= cfg.dispute_collective_min_parties:
            out.append(("dispute_collective", case.case_id))
        out.extend(("dispute_respondent", k) for k in sorted(set(case.respondent_keys)))
    elif case.kind == "petition":
        if case.head_count >= cfg.petition_collective_min_petitioners:
            out.append(("petition_collective", case.case_id))
        agency = normalise_name(case.target_agency or "")
        out.append(("petition_matter", f"{case.street}|{case.category}|{agency}"))
    return [(r, k) for r, k in out if r in cfg.rules]


def member_from_case(case: Case) -> dict[str, Any]:
    """What an incident remembers of a case: no names, no phones, nothing personal."""
    return {
        "case_id": case.case_id,
        "t": case.time.timestamp(),
        "people": case.head_count,
        "amount": str(case.amount_yuan or Decimal(0)),
        "street": case.street,
        "category": case.category,
    }


# an incident's ids are looked up in a set from this many cases on; sets for at most this many
# incidents are kept (then all are dropped and built again as needed)
CASE_SET_FROM = 64
CASE_SETS_MAX = 1024
CaseSets = dict[str, tuple[list[str], set[str]]]


@dataclass(frozen=True, slots=True)
class Deferred:
    """An incident a batch raised or updated: where it is, and the latest case time seen."""

    rule_id: str
    key: str
    skey: str
    t: float


def totals(inc: dict[str, Any]) -> tuple[int, Decimal]:
    """An incident's people and amount: its running totals, or (a row of an earlier version)
    the sums over the members it kept."""
    if "people" in inc:
        return int(inc["people"]), Decimal(inc["amount"])
    return sums(inc.get("members") or ())


def sums(members: Iterable[dict[str, Any]]) -> tuple[int, Decimal]:
    """The people and the amount of cases' member rows, added up."""
    people, amount = 0, Decimal(0)
    for m in members:
        people += int(m["people"])
        amount += Decimal(m["amount"])
    return people, amount


def incident_id(rule_id: str, key: str, start: float) -> str:
    start_dt = _dt(start)
    digest = hashlib.sha1(f"{rule_id}|{key}|{start_dt.isoformat()}".encode()).hexdigest()[:12]
    return f"{rule_id}-{start_dt:%Y%m%dT%H%M%SZ}-{digest}"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class IncidentStats:
    cases: int = 0
    duplicates: int = 0
    late: int = 0
    raised: int = 0
    updated: int = 0
    escalations: int = 0


class IncidentDetector:
    """Feeds cases into per-(rule, key) windows and says what to publish."""

    def __init__(
        self,
        state: MutableMapping[str, Any],
        cfg: IncidentConfig | None = None,
        deferred: dict[str, Deferred] | None = None,
        case_sets: CaseSets | None = None,
    ):
        self.state = state
        self.cfg = cfg or IncidentConfig()
        self.stats = IncidentStats()
        # with it, the incidents this batch raised or updated, to announce once at its end
        self.deferred = deferred
        # with it, each large incident's case ids as a set, kept from call to call (see _has)
        self.case_sets = case_sets

    def handle(self, rule_id: str, key: str, member: dict[str, Any], now: datetime) -> list[Out]:
        rule = self.cfg.rules.get(rule_id)
        if rule is None:
            return []
        self.stats.cases += 1
        skey = state_key(rule_id, key)
        st = self.state.get(skey) or {"members": [], "incidents": [], "hw": 0.0}
        st = {
            "members": list(st["members"]),
            "incidents": [dict(i) for i in st["incidents"]],
            "hw": st["hw"],
        }
        t, cid = float(member["t"]), member["case_id"]
        ref = max(now.timestamp(), float(st["hw"]))
        if any(m["case_id"] == cid for m in st["members"]) or any(
            self._has(i, cid) for i in st["incidents"]
        ):
            self.stats.duplicates += 1
            return []
        horizon = (rule.window + self.cfg.grace).total_seconds()
        if t < ref - horizon:
            self.stats.late += 1
            return []
        st["hw"] = max(float(st["hw"]), t)
        outs: list[Out] = []
        inc = next((i for i in st["incidents"] if i["start"] <= t <= i["end"]), None)
        if inc is not None:
            if ref > inc["end"] + self.cfg.grace.total_seconds():
                self.stats.late += 1
                return []
            people, amount = totals(inc)
            inc.pop("members", None)  # an earlier version's row: its totals are kept instead
            inc["people"] = people + int(member["people"])
            inc["amount"] = str(amount + Decimal(member["amount"]))
            self._join(inc, cid)
            outs += self._announce(rule, key, skey, inc, t)
            self.stats.updated += 1
        else:
            st["members"].append(member)
            group = self._trigger(rule, st["members"], t)
            if group is not None:
                start = min(float(m["t"]) for m in group)
                first = min(group, key=lambda m: (float(m["t"]), m["case_id"]))
                people, amount = sums(group)
                inc = {
                    "id": incident_id(rule_id, key, start),
                    "start": start,
                    "end": start + rule.window.total_seconds(),
                    "case_ids": [m["case_id"] for m in group],
                    "people": people,
                    "amount": str(amount),
                    "levels": [],
                    "street": first["street"],
                    "category": first["category"],
                }
                ids = set(inc["case_ids"])
                st["members"] = [m for m in st["members"] if m["case_id"] not in ids]
                st["incidents"].append(inc)
                self.stats.raised += 1
                outs += self._announce(rule, key, skey, inc, t)
                outs.append(self._risk(inc))
        self._prune(st, rule, max(ref, t))
        self.state[skey] = st
        return outs

    def _has(self, inc: dict[str, Any], cid: str) -> bool:
        """Whether ``cid`` is one of the incident's cases. A large incident's ids are looked up
        in a set kept for its current list of ids (the list is replaced, never changed, when a
        case joins), so a wave does not scan thousands of ids for every claim."""
        ids = inc["case_ids"]
        if self.case_sets is None or len(ids) < CASE_SET_FROM:
            return cid in ids
        held = self.case_sets.get(inc["id"])
        if held is None or held[0] is not ids:
            if len(self.case_sets) >= CASE_SETS_MAX:
                self.case_sets.clear()
            held = self.case_sets[inc["id"]] = (ids, set(ids))
        return cid in held[1]

    def _join(self, inc: dict[str, Any], cid: str) -> None:
        """``cid`` joins the incident: a new list of ids (the old one may be the table's row),
        and the set kept for the old list moves to the new one."""
        ids = inc["case_ids"]
        joined = [*ids, cid]
        if self.case_sets is not None:
            held = self.case_sets.get(inc["id"])
            if held is not None and held[0] is ids:
                held[1].add(cid)
                self.case_sets[inc["id"]] = (joined, held[1])
        inc["case_ids"] = joined

    def _trigger(
        self, rule: Rule, members: list[dict[str, Any]], t: float
    ) -> list[dict[str, Any]] | None:
        """The earliest window holding the new case that satisfies the rule, if any."""
        w = rule.window.total_seconds()
        pool = sorted(members, key=lambda m: (float(m["t"]), m["case_id"]))
        for s in sorted({float(m["t"]) for m in pool}):
            if not s <= t <= s + w:
                continue
            group = [m for m in pool if s <= float(m["t"]) <= s + w]
            if rule.qualifies(group):
                return group
        return None

    def _announce(
        self, rule: Rule, key: str, skey: str, inc: dict[str, Any], t: float
    ) -> list[Out]:
        """The incident as it now stands (or, deferred, a note to announce it at the batch's
        end) and the escalations to the levels it reached for the first time."""
        people, amount = totals(inc)
        levels = ["district"]
        if people >= self.cfg.city_people or amount >= self.cfg.city_amount_yuan:
            levels.append("city")
        when = _dt(max(t, inc["start"]))
        outs: list[Out] = []
        for level in levels:
            if level in inc["levels"]:
                continue
            inc["levels"] = [*inc["levels"], level]
            esc_id = f"{inc['id']}/{level}"
            target = self.cfg.district_committee if level == "district" else self.cfg.city_committee
            reason = (
                f"Group incident ({rule.rule_id}): {len(inc['case_ids'])} case(s), "
                f"{people} people, {amount} yuan"
            )
            if level == "city":
                reason += (
                    f"; at or above {self.cfg.city_people} people or "
                    f"{self.cfg.city_amount_yuan} yuan, so the city is told"
                )
            esc = EscalationRaised(
                escalation_id=esc_id,
                level=level,
                to_committee_id=target,
                reason=reason,
                incident_id=inc["id"],
            )
            outs.append(
                Out(
                    "escalations",
                    esc_id,
                    envelope(esc_id, "escalation.raised.v1", when, dump(esc), subject=inc["id"]),
                )
            )
            self.stats.escalations += 1
        # the levels are the incident's now: announced first, as it stands
        if self.deferred is None:
            return [self.announcement(rule.rule_id, key, inc, t), *outs]
        before = self.deferred.get(inc["id"])
        latest = t if before is None else max(t, before.t)
        self.deferred[inc["id"]] = Deferred(rule.rule_id, key, skey, latest)
        return outs

    def announcement(self, rule_id: str, key: str, inc: dict[str, Any], t: float) -> Out:
        """``incident.detected.v1`` for the incident as it stands, a case ``t`` just joined:
        a new event id for each version, the same incident id."""
        people, amount = totals(inc)
        event = IncidentDetected(
            incident_id=inc["id"],
            rule_id=rule_id,
            key=key,
            window_start=_dt(inc["start"]),
            window_end=_dt(inc["end"]),
            case_ids=list(inc["case_ids"]),
            people=people,
            amount_yuan=amount,
            street=inc["street"],
            category=inc["category"],
            level="city" if "city" in inc["levels"] else "district",
        )
        return Out(
            "incidents",
            inc["id"],
            envelope(
                f"{inc['id']}/{len(inc['case_ids'])}",
                "incident.detected.v1",
                _dt(max(t, inc["start"])),
                dump(event),
                subject=inc["id"],
            ),
        )

    def announce(self, deferred: dict[str, Deferred]) -> list[Out]:
        """One announcement per incident the batch raised or updated, as the batch left it;
        ``deferred`` is emptied."""
        outs = []
        for inc_id, d in deferred.items():
            st = self.state.get(d.skey)
            inc = next((i for i in (st or {}).get("incidents", ()) if i["id"] == inc_id), None)
            if inc is not None:  # else pruned since: nothing left to announce
                outs.append(self.announcement(d.rule_id, d.key, inc, d.t))
        deferred.clear()
        return outs

    def _risk(self, inc: dict[str, Any]) -> Out:
        return contribution(
            f"{inc['id']}/risk",
            inc["street"],
            inc["category"],
            self.cfg.incident_risk_weight,
            _dt(inc["start"]),
            "incident",
        )

    def _prune(self, st: dict[str, Any], rule: Rule, ref: float) -> None:
        horizon, keep = _horizons(rule, self.cfg)
        st["members"] = [m for m in st["members"] if float(m["t"]) >= ref - horizon]
        st["incidents"] = [i for i in st["incidents"] if i["start"] >= ref - keep]

    def prune(self, now: datetime, keys: Iterable[str]) -> int:
        """Forget windows that can no longer change; returns how many keys were dropped."""
        dropped = 0
        for skey in list(keys):
            st = self.state.get(skey)
            rule = self.cfg.rules.get(skey.split("|", 1)[0])
            if st is None or rule is None:
                continue
            ref = max(now.timestamp(), float(st["hw"]))
            pruned = {**st, "members": list(st["members"]), "incidents": list(st["incidents"])}
            self._prune(pruned, rule, ref)
            if not pruned["members"] and not pruned["incidents"]:
                del self.state[skey]
                dropped += 1
            elif len(pruned["members"]) != len(st["members"]) or len(pruned["incidents"]) != len(
                st["incidents"]
            ):
                self.state[skey] = pruned
        return dropped

    def snapshot(self) -> list[dict[str, Any]]:
        """Every incident the table holds, without member details."""
        out = []
        for skey, st in list(self.state.items()):
            for inc in st["incidents"]:
                out.append(
                    {
                        "incident_id": inc["id"],
                        "rule_key": skey,
                        "case_ids": list(inc["case_ids"]),
                        "levels": list(inc["levels"]),
                        "window_start": _dt(inc["start"]).isoformat(),
                    }
                )
            if st["members"]:
                out.append({"rule_key": skey, "pending": [m["case_id"] for m in st["members"]]})
        return out


def _horizons(rule: Rule, cfg: IncidentConfig) -> tuple[float, float]:
    """How long after its case a window's member is kept, and after its start an incident."""
    horizon = (rule.window + cfg.grace).total_seconds()
    return horizon, horizon + cfg.retention.total_seconds()


def next_prune(skey: str, st: Any, cfg: IncidentConfig) -> float | None:
    """The earliest timestamp at which ``IncidentDetector.prune`` can change the row ``st``
    (for its due index, ``streams.dueindex``): when its oldest member leaves the window or its
    oldest incident passes retention, a second early. ``None`` for no row or a rule no longer
    configured, which prune leaves alone."""
    if not isinstance(st, dict):
        return None
    rule = cfg.rules.get(skey.split("|", 1)[0])
    if rule is None:
        return None
    horizon, keep = _horizons(rule, cfg)
    times = [float(m["t"]) + horizon for m in st["members"]]
    times += [float(i["start"]) + keep for i in st["incidents"]]
    if not times:
        return 0.0  # an empty row: the next tick drops it
    at = min(times)
    # prune measures from the later of the clock and the row's newest case
    return at - LOOK_EARLY_S if at > float(st["hw"]) else 0.0
