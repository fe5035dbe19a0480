"""Group-incident rules: windows over event time, ids derived from (rule, key, window),
updates instead of second incidents, escalation once per level, late events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams.cases import Case
from streams.incidents import (
    IncidentConfig,
    IncidentDetector,
    candidates,
    incident_id,
    member_from_case,
)

T0 = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
CFG = IncidentConfig()


def case(cid: str, t: datetime, kind: str = "wage_arrears", **kw: Any) -> Case:
    base: dict[str, Any] = {
        "case_id": cid,
        "event_id": cid,
        "kind": kind,
        "source": "test/unit",
        "time": t,
        "street": "haibin",
        "community": None,
        "category": "labor",
        "head_count": 2,
        "channel": "hotline",
        "amount_yuan": Decimal("10000"),
    }
    if kind == "wage_arrears":
        base["employer_key"] = "uscc:A"
    base.update(kw)
    return Case(**base)


def feed(det: IncidentDetector, c: Case, now: datetime | None = None) -> list:
    outs = []
    for rule, key in candidates(c, det.cfg):
        outs += det.handle(rule, key, member_from_case(c), now or c.time)
    return outs


def by_topic(outs: list, topic: str) -> list[dict]:
    return [o.value for o in outs if o.topic == topic]


def test_three_claims_in_window_raise_one_incident_and_one_escalation() -> None:
    det = IncidentDetector({}, CFG)
    assert feed(det, case("w1", T0)) == []
    assert feed(det, case("w2", T0 + timedelta(days=2))) == []
    outs = feed(det, case("w3", T0 + timedelta(days=6)))
    incs, escs = by_topic(outs, "incidents"), by_topic(outs, "escalations")
    assert len(incs) == 1 and len(escs) == 1
    data = incs[0]["data"]
    assert data["rule_id"] == "wage_employer" and data["key"] == "uscc:A"
    assert data["case_ids"] == ["w1", "w2", "w3"]
    assert data["people"] == 6 and Decimal(data["amount_yuan"]) == Decimal(30000)
    assert data["window_start"] == "2023-03-01T09:00:00Z"
    assert data["incident_id"] == incident_id("wage_employer", "uscc:A", T0.timestamp())
    assert escs[0]["data"]["level"] == "district"
    assert escs[0]["data"]["to_committee_id"] == "district-center"
    assert escs[0]["id"] == f"{data['incident_id']}/district"
    risk = [o for o in outs if o.topic == "internal.risk-inputs"]
    assert len(risk) == 1 and risk[0].value["weight"] == 10.0 and risk[0].key == "haibin/labor"


def test_duplicates_and_replays_raise_nothing() -> None:
    det = IncidentDetector({}, CFG)
    for i in range(3):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i)))
    for i in range(3):
        assert feed(det, case(f"w{i}", T0 + timedelta(hours=i))) == []
    assert det.stats.raised == 1 and det.stats.duplicates == 3


def test_later_case_in_window_updates_same_incident_and_escalates_to_city_once() -> None:
    det = IncidentDetector({}, CFG)
    for i in range(3):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i)))
    outs = feed(det, case("w3", T0 + timedelta(days=1), head_count=45))
    incs, escs = by_topic(outs, "incidents"), by_topic(outs, "escalations")
    assert len(incs) == 1 and incs[0]["data"]["case_ids"] == ["w0", "w1", "w2", "w3"]
    assert incs[0]["data"]["people"] == 51 and incs[0]["data"]["level"] == "city"
    assert incs[0]["id"].endswith("/4")  # a new event id for the new version, same incident id
    assert [e["data"]["level"] for e in escs] == ["city"]  # district was raised already
    assert escs[0]["data"]["to_committee_id"] == "city"
    outs = feed(det, case("w4", T0 + timedelta(days=2)))
    assert by_topic(outs, "escalations") == [] and len(by_topic(outs, "incidents")) == 1
    assert not [o for o in outs if o.topic == "internal.risk-inputs"]  # +10 once per incident


def test_claims_outside_the_window_or_other_employers_raise_nothing() -> None:
    det = IncidentDetector({}, CFG)
    for i in range(3):  # ten days apart: never three within seven days
        assert feed(det, case(f"far{i}", T0 + timedelta(days=10 * i))) == []
    for i in range(3):
        assert feed(det, case(f"other{i}", T0, employer_key=f"uscc:E{i}")) == []
    assert det.stats.raised == 0


def test_ten_workers_in_one_claim_group_raise() -> None:
    det = IncidentDetector({}, CFG)
    assert feed(det, case("a", T0, head_count=4)) == []
    assert len(by_topic(feed(det, case("b", T0 + timedelta(days=1), head_count=6)), "incidents"))


def test_city_at_a_million_yuan() -> None:
    det = IncidentDetector({}, CFG)
    feed(det, case("a", T0))
    feed(det, case("b", T0))
    outs = feed(det, case("c", T0, amount_yuan=Decimal("990000")))
    assert [e["data"]["level"] for e in by_topic(outs, "escalations")] == ["district", "city"]


def test_late_events_within_grace_count_and_beyond_do_not() -> None:
    det = IncidentDetector({}, CFG)
    now = T0 + timedelta(days=7, hours=12)  # window 7 d + grace 24 h reaches back to T0 - 12 h
    feed(det, case("a", T0 + timedelta(days=1)), now)
    feed(det, case("b", T0 + timedelta(days=2)), now)
    assert feed(det, case("old", T0 - timedelta(days=1)), now) == []
    assert det.stats.late == 1
    outs = feed(det, case("c", T0), now)  # late but within grace: completes the group
    assert by_topic(outs, "incidents")[0]["data"]["window_start"] == "2023-03-01T09:00:00Z"


def test_case_for_a_closed_incident_is_late() -> None:
    det = IncidentDetector({}, CFG)
    for i in range(3):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i)))
    now = T0 + timedelta(days=8, hours=1)  # past window end + grace
    assert feed(det, case("w9", T0 + timedelta(days=6, hours=23)), now) == []


def test_incident_id_is_deterministic_whatever_the_arrival_order() -> None:
    ids = set()
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        det = IncidentDetector({}, CFG)
        outs: list = []
        for i in order:
            outs += feed(det, case(f"w{i}", T0 + timedelta(hours=i)), T0 + timedelta(days=1))
        ids |= {o["data"]["incident_id"] for o in by_topic(outs, "incidents")}
    assert len(ids) == 1


def test_collective_petition_of_five_raises_one_and_matter_counts() -> None:
    det = IncidentDetector({}, CFG)
    kw = {"category": "land", "target_agency": "District Land Bureau", "employer_key": None}
    outs = feed(det, case("p1", T0, kind="petition", head_count=5, **kw))
    incs = by_topic(outs, "incidents")
    assert [i["data"]["rule_id"] for i in incs] == ["petition_collective"]
    assert feed(det, case("p1", T0, kind="petition", head_count=5, **kw)) == []
    feed(det, case("p2", T0 + timedelta(days=10), kind="petition", head_count=1, **kw))
    kw2 = {**kw, "target_agency": "district land bureau "}  # same matter, typed differently
    outs = feed(det, case("p3", T0 + timedelta(days=29), kind="petition", head_count=1, **kw2))
    assert [i["data"]["rule_id"] for i in by_topic(outs, "incidents")] == ["petition_matter"]


def test_dispute_rules() -> None:
    det = IncidentDetector({}, CFG)
    kw = {"category": "contract", "employer_key": None}
    outs = feed(det, case("d0", T0, kind="dispute", collective=True, **kw))
    assert [i["data"]["rule_id"] for i in by_topic(outs, "incidents")] == ["dispute_collective"]
    for i in range(2):
        assert (
            feed(det, case(f"d{i + 1}", T0, kind="dispute", respondent_keys=("uscc:R",), **kw))
            == []
        )
    outs = feed(det, case("d3", T0, kind="dispute", respondent_keys=("uscc:R",), **kw))
    assert [i["data"]["rule_id"] for i in by_topic(outs, "incidents")] == ["dispute_respondent"]


def test_prune_forgets_old_windows() -> None:
    state: dict = {}
    det = IncidentDetector(state, CFG)
    for i in range(3):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i)))
    feed(det, case("x", T0, employer_key="uscc:B"))
    assert det.prune(T0 + timedelta(days=3), list(state)) == 0
    assert det.prune(T0 + timedelta(days=9), list(state)) == 1  # the lone claim for B
    assert det.prune(T0 + timedelta(days=200), list(state)) == 1
    assert state == {}


def test_a_street_not_in_the_catalogue_reaches_incident_keys_as_unknown() -> None:
    """Three petitions to one agency from a street the catalogue does not list: the incident's
    key, its street and its risk contribution say ``unknown``, never what was sent."""
    import json
    import random

    from producers.sample import petition
    from streams.intake import IntakeProcessor
    from streams.routing import load_router

    intake, det = IntakeProcessor(load_router(), {}), IncidentDetector({}, CFG)
    outs: list = []
    for i in range(3):
        ev = petition(random.Random(i), f"pm-{i}", T0 + timedelta(hours=i), street="atlantis",
                      category="land", target_agency="区住建局")  # fmt: skip
        res = intake.handle(json.dumps(ev).encode(), "intake.petitions", 0, i, T0 + timedelta(1))
        assert res.case is not None and res.case.street == "unknown"
        assert res.case.sent_street == "atlantis"
        assert res.outs[0].value["data"]["street"] == "atlantis"  # the stored case keeps it
        outs += feed(det, res.case, T0 + timedelta(hours=i))
    (inc,) = by_topic(outs, "incidents")
    assert inc["data"]["key"] == "unknown|land|区住建局"
    assert inc["data"]["street"] == "unknown"
    assert all("atlantis" not in k for k in det.state)
    risk = [o for o in outs if o.topic == "internal.risk-inputs"]
    assert [o.key for o in risk] == ["unknown/land"]
    assert "atlantis" not in json.dumps([o.value for o in outs], ensure_ascii=False)


def test_an_incident_keeps_running_totals_not_its_members() -> None:
    state: dict[str, Any] = {}
    det = IncidentDetector(state, CFG)
    for i in range(4):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i), head_count=3))
    [st] = state.values()
    [inc] = st["incidents"]
    assert "members" not in inc
    assert (inc["people"], Decimal(inc["amount"])) == (12, Decimal("40000"))
    assert inc["case_ids"] == ["w0", "w1", "w2", "w3"]


def test_a_row_of_the_earlier_layout_counts_its_members_once_and_is_rewritten() -> None:
    """An incident row written before the running totals: its members' rows, no totals."""
    det = IncidentDetector({}, CFG)
    for i in range(3):
        feed(det, case(f"w{i}", T0 + timedelta(hours=i), head_count=2))
    [(skey, st)] = det.state.items()
    [inc] = st["incidents"]
    old_inc = {k: v for k, v in inc.items() if k not in ("people", "amount")}
    old_inc["members"] = [
        {
            "case_id": f"w{i}",
            "t": 0.0,
            "people": 2,
            "amount": "10000",
            "street": "haibin",
            "category": "labor",
        }
        for i in range(3)
    ]
    state: dict[str, Any] = {skey: {**st, "incidents": [old_inc]}}
    outs = feed(IncidentDetector(state, CFG), case("w3", T0 + timedelta(days=1), head_count=45))
    [announced] = by_topic(outs, "incidents")
    assert announced["data"]["people"] == 51 and announced["data"]["level"] == "city"
    [rewritten] = state[skey]["incidents"]
    assert "members" not in rewritten and rewritten["people"] == 51
    assert Decimal(rewritten["amount"]) == Decimal("40000")


def test_deferred_a_batch_announces_each_incident_once_as_it_left_it() -> None:
    """Twenty claims of three workers against one employer in one batch: raised at the
    third, updated by seventeen more. Escalations come at the claim that reaches each level,
    the incident once at the end, with every claim and the last claim's time."""
    state: dict[str, Any] = {}
    deferred: dict[str, Any] = {}
    det = IncidentDetector(state, CFG, deferred)
    outs = []
    for i in range(20):
        outs += feed(det, case(f"w{i}", T0 + timedelta(hours=i), head_count=3))
    assert by_topic(outs, "incidents") == []
    escs = by_topic(outs, "escalations")
    # district at the third claim, city at the seventeenth (51 people ≥ 50)
    assert [e["data"]["level"] for e in escs] == ["district", "city"]
    assert "3 case(s), 9 people" in escs[0]["data"]["reason"]
    assert "17 case(s), 51 people" in escs[1]["data"]["reason"]
    [announced] = by_topic(det.announce(deferred), "incidents")
    assert deferred == {}
    assert announced["data"]["case_ids"] == [f"w{i}" for i in range(20)]
    assert announced["data"]["people"] == 60 and announced["data"]["level"] == "city"
    assert announced["id"].endswith("/20")
    assert announced["time"] == (T0 + timedelta(hours=19)).isoformat()
    # announced per case instead, the last announcement is the same event
    undeferred = IncidentDetector({}, CFG)
    each = []
    for i in range(20):
        each += by_topic(
            feed(undeferred, case(f"w{i}", T0 + timedelta(hours=i), head_count=3)), "incidents"
        )
    assert len(each) == 18 and each[-1] == announced
