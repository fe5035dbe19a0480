"""The router remembers the clauses and decision parts that recur: what it decides for a case
must be the same whether it has routed a thousand similar cases before or none."""

from __future__ import annotations

import copy

from fengqiao.cli.route_cmd import sample_cases
from schemas.events import dump
from streams.routing import load_router


def test_a_warm_router_decides_every_case_as_a_fresh_one_would() -> None:
    cases = sample_cases(1500, seed=11)
    warm = load_router()
    for c in cases:  # fill every memo with these cases' clauses and decisions
        warm.route(c)
    for c in cases[:300]:
        fresh = load_router().route(c)
        again = warm.route(c)
        assert again == fresh
        assert again.routed_data(c) == fresh.routed_data(c) == dump(fresh.to_event(c))


def test_decisions_sharing_remembered_parts_do_not_share_their_deadline() -> None:
    cases = sample_cases(200, seed=3)
    router = load_router()
    decisions = [router.route(c) for c in cases]
    before = copy.deepcopy([d.explanation for d in decisions])
    for c, d in zip(cases, decisions, strict=True):
        assert d.explanation is not None
        due = d.explanation["reasons"][-1]
        assert due["code"] == "deadline" and due["params"]["deadline"] == d.deadline.isoformat()
        assert d.reasons[-1].startswith(f"Due to be concluded by {d.deadline.isoformat()}: ")
        router.route(c)  # routing again changes nothing already decided
    assert [d.explanation for d in decisions] == before
