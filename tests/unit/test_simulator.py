"""The simulated year, checked without a broker: calibration, determinism, and that exactly the
planted groups (and nothing in the background) meet DESIGN.md's group-incident rules."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

from fengqiao.cli.simulate_cmd import Pacer, parse_speed
from producers.groundtruth import MISMATCH, OK, Observed, compare, ok, run_pattern
from producers.sdk import validate
from producers.simulator import CST, Simulation, profile, simulate
from schemas.reference.keys import org_key

WEEK = timedelta(days=7)


def year(seed: int = 11, scale: float = 1.0) -> Simulation:
    return _year(seed, scale)


@cache
def _year(seed: int, scale: float) -> Simulation:
    return simulate(profile("longwan-2022", scale), seed)


def test_full_year_matches_the_report() -> None:
    m = year().manifest
    assert m.cases.by_kind["dispute"] == 8418
    assert m.consultations == 13000
    assert Decimal(m.disputes.amount_yuan) == Decimal("392000000")
    assert m.disputes.settled_pct == 99.96
    assert len(m.disputes.no_agreement_case_ids) == 3
    inc = m.incidents
    assert inc.group_wage == 14 and len(inc.planted) == 14
    assert inc.group_wage_workers == 187 == sum(g.workers for g in inc.planted)
    assert sum(m.by_street["dispute"].values()) == 8418
    assert set(m.by_street["dispute"]) == {
        "yongzhong", "puzhou", "haibin", "yongxing", "haicheng",
        "zhuangyuan", "yaoxi", "shacheng", "tianhe", "xinghai",
    }  # fmt: skip


def test_same_seed_same_year_other_seed_other_year() -> None:
    a, b = simulate(profile(scale=0.05), 5), simulate(profile(scale=0.05), 5)
    assert [e.envelope for e in a.events] == [e.envelope for e in b.events]
    assert a.manifest == b.manifest
    c = simulate(profile(scale=0.05), 6)
    assert [e.envelope for e in a.events] != [e.envelope for e in c.events]


def test_events_are_valid_ordered_and_in_2022_shanghai_time() -> None:
    sim = year()
    times = [e.time for e in sim.events]
    assert times == sorted(times)
    assert all(t.year == 2022 and t.utcoffset() == timedelta(hours=8) for t in times)
    ids = [e.envelope["id"] for e in sim.events]
    assert len(set(ids)) == len(ids)
    pattern = run_pattern(sim.run)
    assert all(pattern.match(i) for i in ids)
    for kind, env in sim:
        parsed = validate(env, kind)
        assert parsed.envelope.time == datetime.fromisoformat(env["time"])


def test_wage_claims_peak_before_the_spring_festival_and_hours_follow_the_day() -> None:
    m = year().manifest
    wages = m.by_month["wage-arrears"]
    mean = sum(wages.values()) / 12
    assert wages["01"] > 2 * mean and wages["12"] > 1.5 * mean
    disputes = m.by_hour["dispute"]
    night = sum(disputes.get(str(h), 0) for h in range(0, 6))
    office = sum(disputes.get(str(h), 0) for h in range(9, 17))
    assert night < 0.01 * 8418 < office


def _wage_groups(sim: Simulation) -> dict[str, list[tuple[datetime, int, str]]]:
    """DESIGN.md's wage_employer rule, independently: employers with >= 10 workers or >= 3
    claims within some 7 days of event time."""
    claims: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    for kind, env in sim:
        if kind == "wage-arrears":
            emp = env["data"]["employer"]
            key = org_key(emp["name"], emp.get("credit_code"))
            assert key
            claims[key].append(
                (datetime.fromisoformat(env["time"]), env["data"]["worker_count"], env["id"])
            )
    groups = {}
    for key, cs in claims.items():
        cs.sort()
        for i, (t0, _, _) in enumerate(cs):
            window = [c for c in cs[i:] if c[0] - t0 < WEEK]
            if sum(c[1] for c in window) >= 10 or len(window) >= 3:
                groups[key] = cs
                break
    return groups


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_exactly_the_planted_wage_groups_meet_the_rule(scale: float) -> None:
    sim = year(11, scale)
    planted = sim.manifest.incidents.planted
    groups = _wage_groups(sim)
    assert set(groups) == {g.employer_key for g in planted}
    for g in planted:
        claims = groups[g.employer_key]
        assert sorted(c[2] for c in claims) == sorted(g.case_ids)
        assert sum(c[1] for c in claims) == g.workers
        # One working day, 09:00-16:00: inside any 7-day window however it is aligned.
        days = {c[0].astimezone(CST).date() for c in claims}
        assert len(days) == 1
        assert all(9 <= c[0].astimezone(CST).hour < 16 for c in claims)
    assert sum(g.workers for g in planted) == 187
    assert {g.trigger for g in planted} == {"workers", "claims"}
    assert any(g.credit_code is None for g in planted)  # one keyed by normalised name


def test_background_forms_no_other_group() -> None:
    sim = year()
    respondents: dict[str, list[datetime]] = defaultdict(list)
    matters: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    petitions: dict[str, dict[str, Any]] = {}
    for kind, env in sim:
        d, t = env["data"], datetime.fromisoformat(env["time"])
        if kind == "dispute":
            assert not d["collective"] and d["party_count"] < 5  # dispute_collective
            for p in d["parties"]:
                if p["role"] == "respondent" and p["kind"] == "organisation":
                    key = org_key(p.get("name"), p.get("credit_code"))
                    assert key
                    respondents[key].append(t)
        elif kind == "petition":
            assert d["petitioner_count"] < 5  # petition_collective
            matters[(d["street"], d["category"], d["target_agency"])].append(t)
            for first_id in d["repeat_of"]:  # a repeat: same matter, at least a month later
                first = petitions[first_id]
                assert t - datetime.fromisoformat(first["time"]) >= timedelta(days=30)
                assert all(
                    first["data"][f] == d[f] for f in ("street", "category", "target_agency")
                )
            petitions[env["id"]] = env
    assert all(len(ts) == 1 for ts in respondents.values())  # dispute_respondent
    assert sim.manifest.petitions.repeats > 20  # petition_repeat is exercised
    for ts in matters.values():  # petition_matter: never 3 within 30 days
        ts.sort()
        assert all(b - a >= timedelta(days=30) for a, b in zip(ts, ts[2:], strict=False))


def test_scaled_profile_keeps_every_incident() -> None:
    m = year(11, 0.1).manifest
    assert m.cases.by_kind["dispute"] == 842
    assert m.incidents.group_wage == 14 and m.incidents.group_wage_workers == 187
    assert Decimal(m.disputes.amount_yuan) == Decimal("39200000")
    assert m.run != year().manifest.run


def test_pacer_maps_simulated_time_to_wall_time() -> None:
    now = [100.0]
    origin = datetime(2022, 1, 1, tzinfo=CST)
    pacer = Pacer(86_400.0, origin, clock=lambda: now[0])
    assert pacer.wait_s(origin + timedelta(days=2)) == pytest.approx(2.0)
    now[0] = 101.5
    assert pacer.wait_s(origin + timedelta(days=2)) == pytest.approx(0.5)
    assert pacer.wait_s(origin) == 0.0
    assert Pacer(None, origin).wait_s(origin + timedelta(days=300)) == 0.0
    assert parse_speed("max") is None and parse_speed("100000") == 100000.0


def _perfect(sim: Simulation) -> Observed:
    obs = Observed(run=sim.run)
    by_topic = {
        "dispute": "intake.disputes",
        "petition": "intake.petitions",
        "wage-arrears": "intake.wage-arrears",
        "consultation": "intake.consultations",
    }
    kinds = {"dispute": "dispute", "petition": "petition", "wage-arrears": "wage_arrears"}
    for kind, env in sim:
        obs.add_intake(by_topic[kind], env)
        if kind in kinds:
            obs.add_routed({"data": {"case_id": env["id"], "kind": kinds[kind]}})
    for i, g in enumerate(sim.manifest.incidents.planted):
        obs.add_incident(
            {
                "data": {
                    "incident_id": f"inc-{i}",
                    "rule_id": "wage_employer",
                    "case_ids": list(g.case_ids),
                    "people": g.workers,
                }
            }
        )
    return obs


def test_report_agrees_with_a_perfect_pipeline_and_catches_each_fault() -> None:
    sim = year(11, 0.1)
    m = sim.manifest
    assert ok(compare(m, _perfect(sim)))

    lost = _perfect(sim)
    lost.routed["dispute"].pop(m.case_ids["dispute"][0])
    rows = {r.check: r for r in compare(m, lost)}
    assert rows["disputes routed"].status == MISMATCH
    assert rows["planted cases never routed"].status == MISMATCH

    split = _perfect(sim)  # one planted incident raised twice (a window split it)
    g = m.incidents.planted[0]
    split.add_incident(
        {"data": {"incident_id": "x", "rule_id": "wage_employer", "case_ids": list(g.case_ids[:1]),
                  "people": 1}}
    )  # fmt: skip
    rows = {r.check: r for r in compare(m, split)}
    assert rows["group wage incidents"].status == MISMATCH
    assert rows["planted incidents found exactly once"].counted == "13"

    noisy = _perfect(sim)  # a background group nobody planted
    noisy.add_incident(
        {"data": {"incident_id": "y", "rule_id": "dispute_respondent",
                  "case_ids": list(m.case_ids["dispute"][:3]), "people": 3}}
    )  # fmt: skip
    assert {r.check: r for r in compare(m, noisy)}["incidents dispute_respondent"].status == (
        MISMATCH
    )

    dead = _perfect(sim)
    dead.dead_letters = 1
    assert not ok(compare(m, dead))

    other_run = _perfect(sim)  # events of other runs on the same topics are ignored
    other_run.add_routed({"data": {"case_id": sim.run + "-x01-d00001", "kind": "dispute"}})
    assert ok(compare(m, other_run)) and other_run.routed_other == 1


def test_without_incident_agent_incident_rows_are_information() -> None:
    sim = year(11, 0.1)
    obs = _perfect(sim)
    obs.incidents.clear()
    obs.incident_agent = False
    rows = {r.check: r for r in compare(sim.manifest, obs)}
    assert rows["group wage incidents"].status == "info"
    assert rows["incidents dispute_collective"].status == OK
    assert ok(compare(sim.manifest, obs))
