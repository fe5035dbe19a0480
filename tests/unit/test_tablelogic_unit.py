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
