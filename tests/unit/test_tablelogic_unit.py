"""The incident, risk and SLA steps get their state passed in: the table is never swapped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fengqiao.settings import Settings
from fengqiao.workerwiring import rule_params
from streams.tablelogic import IncidentStep, RiskStep, SlaStep
from streams.watch import incident_config, risk_config, sla_config
from streams.writeback import WriteBack

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _routed(case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": "dispute",
        "street": "haibin",
        "category": "neighbour",
        "committee_id": "haibin-street",
        "tier": "street",
        "time": NOW.timestamp(),
    }


def test_sla_items_change_only_the_view_they_are_given_and_counts_outlive_the_batch() -> None:
    step = SlaStep(sla_config(rule_params(Settings())), lambda: NOW)
    table: dict[str, Any] = {}
    for i in range(2):
        view = WriteBack(table)
        assert step.on_item(view, {"routed": _routed(f"c{i}")}) == []
        assert f"c{i}" not in table and f"c{i}" in view
        for key, value, _p in view.changes():
            table[key] = value
    assert sorted(table) == ["c0", "c1"] and step.stats.routed == 2
    assert set(step.snapshot(table)) == {"c0", "c1"}


def test_a_tick_waits_until_time_is_known() -> None:
    known = [False]
    step = RiskStep(risk_config(rule_params(Settings())), lambda: NOW, lambda: known[0])
    state = WriteBack({"haibin/neighbour": {"score": 50.0, "at": NOW.timestamp()}})
    assert step.on_tick(state, ["haibin/neighbour"]) == []
    assert list(state.changes()) == []


def test_incident_counts_are_added_up_over_calls() -> None:
    step = IncidentStep(incident_config(rule_params(Settings())), lambda: NOW)
    state = WriteBack({})
    member = {
        "case_id": "c1",
        "t": NOW.timestamp(),
        "people": 6,
        "amount": "0",
        "street": "haibin",
        "category": "neighbour",
    }
    step.on_item(state, {"rule_id": "dispute_collective", "key": "k", "member": member})
    step.on_item(state, {"rule_id": "dispute_collective", "key": "k", "member": member})
    assert (step.stats.cases, step.stats.duplicates) == (2, 1)
    assert step.snapshot(state)  # the incident is in the view it was given


def _claim(i: int) -> dict[str, Any]:
    """The incident agent's item for claim ``w{i}`` of one worker against employer A."""
    member = {
        "case_id": f"w{i}",
        "t": NOW.timestamp() + i,
        "people": 1,
        "amount": "1000",
        "street": "haibin",
        "category": "labor",
    }
    return {"rule_id": "wage_employer", "key": "uscc:A", "member": member}


def test_the_incident_step_announces_a_messages_updates_once_when_done() -> None:
    step = IncidentStep(incident_config(rule_params(Settings())), lambda: NOW)
    state = WriteBack({})
    outs = []
    for i in range(6):
        outs += step.on_item(state, _claim(i))
    assert [o.topic for o in outs] == ["escalations", "internal.risk-inputs"]  # at the third
    [done] = step.on_done(state)
    assert done.topic == "incidents" and done.value["data"]["case_ids"] == [
        f"w{i}" for i in range(6)
    ]
    assert step.on_done(state) == []  # announced once


def test_a_large_incident_knows_its_cases_across_messages_and_a_discarded_batch() -> None:
    """Past CASE_SET_FROM cases the incident's ids are looked up in a set kept by the step. A
    claim seen before is a duplicate in a later message; a claim whose batch was never written
    back (the worker stopped before it) is new when it comes again."""
    from streams.incidents import CASE_SET_FROM

    step = IncidentStep(incident_config(rule_params(Settings())), lambda: NOW)
    rows: dict[str, Any] = {}

    def message(ids: range | list[int], keep: bool = True) -> None:
        state = WriteBack(rows)
        for i in ids:
            step.on_item(state, _claim(i))
        step.on_done(state)
        changes = list(state.changes())
        if keep:
            rows.update((k, v) for k, v, _ in changes)

    n = CASE_SET_FROM + 36
    message(range(n))
    message([5, n - 1])  # both seen
    assert step.stats.duplicates == 2
    message([n], keep=False)  # its batch is lost
    message([n, 7])  # so w{n} is new; w7 is not
    assert step.stats.duplicates == 3
    [inc] = rows["wage_employer|uscc:A"]["incidents"]
    assert inc["case_ids"] == [f"w{i}" for i in range(n + 1)]
