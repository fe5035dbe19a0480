"""Stability risk (decayed score, levels, level-change events) and SLA clocks (warnings,
breaches, escalation one tier up, lifecycle stops), with an injected "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fengqiao.settings import Settings
from streams.clock import StreamClock
from streams.risk import RiskConfig, RiskTable, case_weight, contribution, level_for
from streams.sla import SlaClocks, SlaConfig
from streams.watch import incident_config, owned, partition_of, risk_config, sla_config
from tests.unit.test_incidents import case

T0 = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
RCFG = RiskConfig()


def add(table: RiskTable, cid: str, w: float, t: datetime, street: str = "haibin") -> list:
    return table.add(contribution(cid, street, "land", w, t, "test").value)


def levels(outs: list) -> list[tuple[str | None, str]]:
    return [(o.value["data"]["previous_level"], o.value["data"]["level"]) for o in outs]


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "green"),
        (4.99, "green"),
        (5, "blue"),
        (9.9, "blue"),
        (10, "yellow"),
        (20, "orange"),
        (39.9, "orange"),
        (40, "red"),
        (1000, "red"),
    ],
)
def test_levels(score: float, level: str) -> None:
    assert level_for(score, RCFG) == level


def test_case_weights() -> None:
    d = case("d", T0, kind="dispute", employer_key=None, amount_yuan=Decimal(1000))
    assert case_weight(d, RCFG) == 1
    assert case_weight(case("d", T0, kind="dispute", amount_yuan=Decimal(100_000)), RCFG) == 2
    assert case_weight(case("p", T0, kind="petition"), RCFG) == 2
    assert case_weight(case("p", T0, kind="petition", repeat=True), RCFG) == 4
    assert case_weight(case("w", T0, head_count=25), RCFG) == pytest.approx(4.5)


def test_burst_turns_red_in_order_then_decays_back() -> None:
    rows: dict = {}
    table = RiskTable(rows, RCFG)
    outs = []
    for i in range(21):
        outs += add(table, f"c{i}", 2.0, T0)
    assert levels(outs) == [
        ("green", "blue"),
        ("blue", "yellow"),
        ("yellow", "orange"),
        ("orange", "red"),
    ]
    assert outs[-1].key == "haibin/land" and outs[-1].topic == "risk.levels"
    assert rows["haibin/land"]["score"] == 42
    # one half-life later the score is halved: 21 → orange; two: 10.5 → yellow
    assert levels(table.refresh(T0 + timedelta(days=7), ["haibin/land"])) == [("red", "orange")]
    assert table.refresh(T0 + timedelta(days=7, hours=1), ["haibin/land"]) == []
    assert levels(table.refresh(T0 + timedelta(days=14), ["haibin/land"])) == [("orange", "yellow")]
    assert levels(table.refresh(T0 + timedelta(days=60), ["haibin/land"])) == [("yellow", "green")]
    view = table.view(T0 + timedelta(days=60))
    assert view[0]["level"] == "green" and view[0]["score"] < 0.2


def test_redelivered_contribution_counts_once_and_late_one_is_decayed() -> None:
    table = RiskTable({}, RCFG)
    add(table, "a", 4.0, T0)
    assert add(table, "a", 4.0, T0) == []
    add(table, "late", 4.0, T0 - timedelta(days=7))
    assert table.rows["haibin/land"]["score"] == pytest.approx(6.0)
    assert table.rows["haibin/land"]["as_of"] == T0.timestamp()


def test_new_row_above_green_is_reported() -> None:
    table = RiskTable({}, RCFG)
    assert levels(add(table, "inc", 10.0, T0)) == [(None, "yellow")]


def routed(table: SlaClocks, cid: str, kind: str = "dispute", tier: str = "street") -> None:
    table.routed(
        {
            "case_id": cid,
            "kind": kind,
            "street": "haibin",
            "category": "land",
            "committee_id": "haibin-street",
            "tier": tier,
            "time": T0.timestamp(),
        }
    )


def types(outs: list) -> list[str]:
    return [o.value.get("type", o.topic) for o in outs]


def test_unaccepted_case_warns_then_breaches_and_escalates_once() -> None:
    sla = SlaClocks({}, SlaConfig())
    routed(sla, "c1")
    assert sla.check(T0 + timedelta(hours=19), ["c1"]) == []
    warn = sla.check(T0 + timedelta(hours=20), ["c1"])  # 80 % of one day
    assert types(warn) == ["sla.warning.v1"] and warn[0].value["data"]["clock"] == "accept"
    assert sla.check(T0 + timedelta(hours=21), ["c1"]) == []
    breach = sla.check(T0 + timedelta(days=1), ["c1"])
    assert types(breach) == ["sla.breached.v1", "escalation.raised.v1", "internal.risk-inputs"]
    esc = breach[1].value["data"]
    assert esc["level"] == "district" and esc["to_committee_id"] == "district-center"
    assert esc["case_id"] == "c1"
    assert breach[0].value["data"]["escalated_to_tier"] == "district"
    assert breach[2].value["weight"] == 3.0
    assert sla.check(T0 + timedelta(days=2), ["c1"]) == []


def test_accepted_case_does_not_breach_accept_but_conclude_clock_runs() -> None:
    sla = SlaClocks({}, SlaConfig())
    routed(sla, "c2", tier="community")
    sla.lifecycle("case.accepted.v1", {"case_id": "c2", "committee_id": "x"}, T0)
    assert sla.check(T0 + timedelta(days=2), ["c2"]) == []
    outs = sla.check(T0 + timedelta(days=30), ["c2"])
    assert types(outs)[:2] == ["sla.breached.v1", "escalation.raised.v1"]
    assert outs[1].value["data"]["level"] == "street"
    assert outs[1].value["data"]["to_committee_id"] == "haibin-street"


def test_concluded_case_stops_both_and_is_forgotten_later() -> None:
    rows: dict = {}
    sla = SlaClocks(rows, SlaConfig())
    routed(sla, "c3")
    sla.lifecycle("case.concluded.v1", {"case_id": "c3", "committee_id": "x"}, T0)
    assert sla.check(T0 + timedelta(days=5), ["c3"]) == []
    assert sla.check(T0 + timedelta(days=8), ["c3"]) == [] and rows == {}


def test_transfer_restarts_the_accept_clock() -> None:
    sla = SlaClocks({}, SlaConfig())
    routed(sla, "c4")
    moved = T0 + timedelta(hours=12)
    sla.lifecycle(
        "case.transferred.v1",
        {"case_id": "c4", "committee_id": "a", "to_committee_id": "b", "reason": "r"},
        moved,
    )
    assert types(sla.check(T0 + timedelta(days=1), ["c4"])) == []
    outs = sla.check(moved + timedelta(days=1), ["c4"])
    assert types(outs)[0] == "sla.breached.v1" and outs[0].value["data"]["committee_id"] == "b"


def test_lifecycle_before_routing_still_counts() -> None:
    sla = SlaClocks({}, SlaConfig())
    sla.lifecycle("case.accepted.v1", {"case_id": "c5", "committee_id": "x"}, T0)
    routed(sla, "c5")
    routed(sla, "c5")  # redelivered
    assert sla.check(T0 + timedelta(days=2), ["c5"]) == []


def test_stream_clock() -> None:
    clock = StreamClock()
    assert not clock.known and clock().year == 1970
    clock.observe(T0)
    clock.observe(T0 - timedelta(days=1))
    assert clock.known and clock() == T0


def test_configs_follow_settings() -> None:
    s = Settings(
        wage_employer_min_claims=5,
        risk_half_life_days=3,
        sla_dispute_days=(2, 20),
        incident_grace_hours=0,
    )
    assert incident_config(s).rules["wage_employer"].min_cases == 5
    assert incident_config(s).grace == timedelta(0)
    assert risk_config(s).half_life == timedelta(days=3)
    assert sla_config(s).periods["dispute"] == (timedelta(days=2), timedelta(days=20))


def test_escalation_targets_come_from_the_catalogue_unless_set() -> None:
    from streams.routing import load_router
    from streams.watch import escalation_targets

    top = load_router().catalogue.top_by_type
    assert escalation_targets(Settings(), top) == ("longwan-center", "wenzhou-city")
    assert escalation_targets(Settings(city_committee="zj-prov"), top)[1] == "zj-prov"
    assert escalation_targets(Settings(), None) == ("district-center", "city")
    assert sla_config(Settings(), top).committee_for("district", "haibin") == "longwan-center"
    assert sla_config(Settings(), top).committee_for("street", "haibin") == "haibin-street"


def test_partition_ownership_splits_keys() -> None:
    keys = [f"street{i}/land" for i in range(50)]
    parts = [owned(keys, p, 4) for p in range(4)]
    assert sorted(k for p in parts for k in p) == sorted(keys)
    assert all(partition_of(k, 4) == p for p in range(4) for k in parts[p])


def test_heat_table_colours_each_level() -> None:
    from rich.console import Console

    from fengqiao.cli.risk_cmd import heat_table

    rows = [
        {"street": "haibin", "category": "land", "score": 42.0, "level": "red", "events": 21},
        {"street": "yaoxi", "category": "labor", "score": 6.0, "level": "blue", "events": 3},
    ]
    console = Console(record=True, force_terminal=True, width=120, color_system="truecolor")
    console.print(heat_table(rows))
    text = console.export_text(styles=False, clear=False)
    assert "42.0 red" in text and "6.0 blue" in text
    assert "haibin" in text and "labor" in text
    ansi = console.export_text(styles=True)
    assert "\x1b[1;31m42.0 red" in ansi  # bold red


def test_a_street_not_in_the_catalogue_reaches_the_risk_table_as_unknown() -> None:
    """What was sent stays on the routed event (the stored case); keys carry catalogue codes."""
    import json
    import random

    from producers.sample import dispute
    from streams.intake import IntakeProcessor
    from streams.risk import case_contribution
    from streams.routing import load_router

    intake, table = IntakeProcessor(load_router(), {}), RiskTable({}, RCFG)
    sent = ["atlantis", "0", "di", "r", "haibin"]
    for i, street in enumerate(sent):
        ev = dispute(random.Random(i), f"u-{i}", T0, street=street, category="land")
        res = intake.handle(json.dumps(ev).encode(), "intake.disputes", 0, i, T0)
        assert res.case is not None and res.decision is not None
        assert res.outs[0].value["data"]["street"] == street
        contribution_out = case_contribution(res.case, RCFG)
        assert contribution_out.key in ("unknown/land", "haibin/land")
        table.add(contribution_out.value)
    for i in range(12):  # enough to turn the unknown row's level and publish it
        table.add(contribution(f"x-{i}", "unknown", "land", 1.0, T0, "test").value)
    assert set(table.rows) == {"unknown/land", "haibin/land"}
    assert {r["street"] for r in table.view(T0)} == {"unknown", "haibin"}
    changed = table.add(contribution("x-last", "unknown", "land", 30.0, T0, "test").value)
    assert [o.key for o in changed] == ["unknown/land"]
    assert changed[0].value["data"]["street"] == "unknown"


def test_sla_alert_and_escalation_ids_are_valid_envelope_ids() -> None:
    """The sink validates every envelope: ids with the due time's "+00:00" in them were
    dead-lettered, so no SLA alert or SLA escalation ever reached the case store."""
    from schemas.envelope import Envelope

    sla = SlaClocks({}, SlaConfig())
    routed(sla, "c1")
    outs = sla.check(T0 + timedelta(hours=20), ["c1"]) + sla.check(T0 + timedelta(days=1), ["c1"])
    published = [o for o in outs if o.topic != "internal.risk-inputs"]
    assert types(published) == ["sla.warning.v1", "sla.breached.v1", "escalation.raised.v1"]
    for out in published:
        Envelope.model_validate(out.value)  # raises on an id the sink would refuse


@pytest.mark.parametrize("at", [T0, T0 + timedelta(microseconds=454121)])
def test_risk_level_change_ids_are_valid_envelope_ids(at: datetime) -> None:
    """Every level change used to carry ``isoformat``'s "+00:00" in its id, which the envelope
    refuses: the command center read none of them (unreadable, counted and logged)."""
    from schemas.envelope import Envelope
    from schemas.events import RiskLevelChanged

    table = RiskTable({}, RiskConfig())
    outs = add(table, "c1", 30.0, at)
    assert levels(outs) == [(None, "orange")]
    env = Envelope.model_validate(outs[0].value)  # raises on an id the readers would refuse
    RiskLevelChanged.model_validate(env.data)
    stamp = "20230301T090000Z" if not at.microsecond else "20230301T090000.454121Z"
    assert env.id == f"risk:haibin/land:{stamp}:orange"
