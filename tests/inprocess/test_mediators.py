"""Simulated mediators against an in-memory inbox that follows the inbox API's HTTP contract
(bearer token per committee, GET /cases paging and status filter, 202 / 409 on actions)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from producers.groundtruth import Observed, compare, ok
from producers.manifest import MediatorsRun, Publishing
from producers.mediators import (
    ACCEPT_AFTER,
    CommitteeTokens,
    MediatorPlan,
    Mediators,
    RoutedFeed,
)
from producers.simulator import profile, simulate

# DESIGN.md's default SLA clocks: (accept, conclude) in days.
SLA_DAYS = {"dispute": (1, 30), "petition": (15, 60), "wage_arrears": (1, 15)}


class FakeInbox:
    """Cases move new -> accepted -> concluded; actions the state does not allow get 409."""

    def __init__(self, cases: dict[str, str]) -> None:  # case id -> committee
        self.committee = cases
        self.status = dict.fromkeys(cases, "new")
        self.tokens = {f"tok-{c}": c for c in set(cases.values())}
        self.concluded: dict[str, dict[str, Any]] = {}

    def handle(self, req: httpx.Request) -> httpx.Response:
        committee = self.tokens.get(req.headers.get("authorization", "")[len("Bearer ") :])
        if committee is None:
            return httpx.Response(401, json={"detail": "a bearer token is required"})
        path = req.url.path
        if req.method == "GET" and path == "/cases":
            status = req.url.params.get("status")
            limit, offset = int(req.url.params["limit"]), int(req.url.params["offset"])
            mine = sorted(
                c
                for c, k in self.committee.items()
                if k == committee and (status is None or self.status[c] == status)
            )
            page = [{"case_id": c, "status": self.status[c]} for c in mine[offset : offset + limit]]
            return httpx.Response(
                200, json={"items": page, "total": len(mine), "limit": limit, "offset": offset}
            )
        case_id, action = path[len("/cases/") :].rsplit("/", 1)
        if case_id not in self.committee:
            return httpx.Response(404, json={"detail": "no such case"})
        if self.committee[case_id] != committee:
            return httpx.Response(403, json={"detail": "the case belongs to another committee"})
        state = self.status[case_id]
        if action == "accept" and state == "new":
            self.status[case_id] = "accepted"
        elif action == "conclude" and state == "accepted":
            body = json.loads(req.content)
            assert body["outcome"] in ("agreement", "no_agreement", "withdrawn", "referred")
            assert body["outcome"] == "agreement" or "agreed_amount_yuan" not in body
            self.status[case_id] = "concluded"
            self.concluded[case_id] = body
        else:
            return httpx.Response(409, json={"detail": f"cannot {action} a {state} case"})
        return httpx.Response(202, json={"event_id": f"{case_id}/{action}ed/1"})


def test_mediators_accept_and_conclude_every_case_as_planned() -> None:
    sim = simulate(profile(scale=0.02), 4)
    # 168 disputes round to 0 without agreement: plant one
    planted = sim.manifest.disputes.model_copy(
        update={"no_agreement_case_ids": (sim.manifest.case_ids["dispute"][5],)}
    )
    manifest = sim.manifest.model_copy(update={"disputes": planted})
    plan = MediatorPlan.from_simulation(sim.events, manifest)
    committees = [f"street-{i}" for i in range(3)]
    inbox = FakeInbox({cid: committees[i % 3] for i, cid in enumerate(sorted(plan.cases))})
    client = httpx.Client(transport=httpx.MockTransport(inbox.handle), base_url="http://inbox")
    first = min(c.time for c in plan.cases.values())
    now: list[Any] = [first]
    tokens = {c: t for t, c in inbox.tokens.items()}
    crew = Mediators(client, plan, lambda: tokens, lambda: now[0], page=50)

    crew.step()  # at the first event's time nothing is due yet
    assert crew.stats.accepted == 0 and all(s == "new" for s in inbox.status.values())
    now[0] = first + ACCEPT_AFTER * 2  # the earliest cases are due for acceptance
    crew.step()
    assert 0 < crew.stats.accepted < len(plan.cases)
    assert not inbox.concluded

    now[0] = None  # the year is out: everything is due
    stop = threading.Event()
    stop.set()
    crew.grace_s = 5
    crew.run(stop, poll_s=0)
    assert crew.finished()
    assert set(inbox.concluded) == set(plan.cases)
    no_agreement = {c for c, b in inbox.concluded.items() if b["outcome"] == "no_agreement"}
    assert no_agreement == {sim.manifest.case_ids["dispute"][5]}
    for cid, body in inbox.concluded.items():
        amount = plan.cases[cid].amount_yuan
        if body["outcome"] == "agreement" and plan.cases[cid].kind != "petition" and amount:
            assert body["agreed_amount_yuan"] == amount
    assert crew.stats.errors == 0


def test_plan_is_deterministic_and_within_the_sla() -> None:
    sim = simulate(profile(scale=0.02), 4)
    plan = MediatorPlan.from_simulation(sim.events, sim.manifest)
    for cid, c in plan.cases.items():
        accept, conclude = plan.accept_due(cid), plan.conclude_due(cid)
        assert accept is not None and conclude is not None
        accept_sla, conclude_sla = SLA_DAYS[c.kind]
        assert c.time < accept <= c.time + timedelta(days=accept_sla)
        assert accept < conclude <= c.time + timedelta(days=conclude_sla)
    again = MediatorPlan.from_simulation(sim.events, sim.manifest)
    assert [again.conclude_due(c) for c in plan.cases] == [plan.conclude_due(c) for c in plan.cases]


def test_report_checks_conclusions_when_mediators_ran() -> None:
    sim = simulate(profile(scale=0.02), 4)
    ran = Publishing(mediators=MediatorsRun(url="http://inbox"))
    m = sim.manifest.model_copy(update={"publishing": ran})
    plan = MediatorPlan.from_simulation(sim.events, m)
    obs = Observed(run=sim.run, incident_agent=False)
    kinds = {"dispute": "dispute", "petition": "petition", "wage-arrears": "wage_arrears"}
    topics = {
        "dispute": "intake.disputes",
        "petition": "intake.petitions",
        "wage-arrears": "intake.wage-arrears",
        "consultation": "intake.consultations",
    }
    for kind, env in sim:
        obs.add_intake(topics[kind], env)
        if kind in kinds:
            obs.add_routed({"data": {"case_id": env["id"], "kind": kinds[kind]}})
    for cid in plan.cases:
        body = plan.conclusion(cid)
        obs.add_lifecycle({"type": "case.concluded.v1", "data": {"case_id": cid, **body}})
    rows = {r.check: r for r in compare(m, obs)}
    assert ok(list(rows.values()))
    assert rows["disputes without agreement"].counted == str(len(plan.no_agreement))
    obs.outcomes["agreement"] -= 1  # one conclusion lost
    assert not ok(compare(m, obs))


def test_simulate_mints_tokens_that_the_case_store_knows(tmp_path: Path) -> None:
    from consumers.db import SqlStore
    from consumers.tokens import hash_token
    from fengqiao.cli.simulate_cmd import store_mint
    from fengqiao.settings import Settings

    s = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'fq.db'}")
    mint = store_mint(s)
    a, b = mint("haibin-street"), mint("yaoxi-street")
    assert a != b
    store = SqlStore.open(s.effective_database_url())
    try:
        assert store.committee_for_token(hash_token(a)) == "haibin-street"
        assert store.committee_for_token(hash_token(b)) == "yaoxi-street"
    finally:
        store.close()


class _Seen(CommitteeTokens):
    """Committees as if read from cases.routed (the real read is covered by the stack test)."""

    def __init__(self, committees: list[set[str]], mint: Any) -> None:
        super().__init__(RoutedFeed("cases.routed", ("127.0.0.1:9",)), lambda _: True, mint)
        self.batches = committees

    def _new_committees(self) -> set[str]:
        return self.batches.pop(0) - set(self.tokens) if self.batches else set()


def test_committee_tokens_mint_once_per_committee_or_read_the_file(tmp_path: Path) -> None:
    minted: list[str] = []

    def mint(committee: str) -> str:
        minted.append(committee)
        return f"tok-{committee}"

    tokens = _Seen([{"haibin-street"}, {"haibin-street", "yaoxi-street"}], mint)
    assert tokens() == {"haibin-street": "tok-haibin-street"}
    assert tokens() == {"haibin-street": "tok-haibin-street", "yaoxi-street": "tok-yaoxi-street"}
    assert tokens() == {"haibin-street": "tok-haibin-street", "yaoxi-street": "tok-yaoxi-street"}
    assert minted == ["haibin-street", "yaoxi-street"]

    file = tmp_path / "tokens.json"
    file.write_text(json.dumps({"puzhou-street": "tok-file"}))
    feed = RoutedFeed("cases.routed", ("127.0.0.1:9",), {"sasl_plain_password": "s3cret"})
    assert "s3cret" not in repr(feed)
    from_file = CommitteeTokens(feed, lambda _: True, mint, file)
    assert from_file() == {"puzhou-street": "tok-file"}
    assert minted == ["haibin-street", "yaoxi-street"]  # nothing minted when a file is given
