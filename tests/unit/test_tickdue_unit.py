"""The incident and risk due indexes: ticks that look only at the rows their index says are due
give exactly the pruned windows, dropped rows and level changes of ticks that walk every row,
and what later cases raise is the same."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.dueindex import DueIndex, note_all
from streams.incidents import IncidentConfig, IncidentDetector, next_prune, state_key
from streams.risk import LEVELS, RiskConfig, RiskTable, next_level_drop, risk_key

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
ICFG = IncidentConfig()
RCFG = RiskConfig()
RULES = ("wage_employer", "dispute_respondent", "petition_matter", "dispute_collective")
GAPS_MIN = (1, 30, 240, 1440, 4 * 1440, 20 * 1440)  # a minute to twenty days
# risk levels fall days apart: ticks minutes apart too, so a look late by minutes is seen
RISK_GAPS_MIN = (1, 2, 5, 15, 60, 240, 1440, 4 * 1440)


def member(cid: str, t: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "case_id": cid,
        "t": t.timestamp(),
        "people": rng.choice((1, 2, 4, 12)),
        "amount": str(rng.choice((0, 5000, 300000))),
        "street": "haibin",
        "category": "labor",
    }


def test_next_prune_is_when_the_oldest_member_or_incident_can_go() -> None:
    state: dict[str, Any] = {}
    det = IncidentDetector(state, ICFG)
    rng = random.Random(1)
    det.handle("wage_employer", "e1", member("c1", T0, rng), T0)
    skey = state_key("wage_employer", "e1")
    week_and_grace = (timedelta(days=7) + ICFG.grace).total_seconds()
    assert next_prune(skey, state[skey], ICFG) == T0.timestamp() + week_and_grace - 1.0
    # a rule no longer configured, and no row: nothing to prune
    assert next_prune("retired_rule|e1", state[skey], ICFG) is None
    assert next_prune(skey, None, ICFG) is None
    # due at once: an empty row, and one whose newest case already passed its oldest's horizon
    assert next_prune(skey, {"members": [], "incidents": [], "hw": 0.0}, ICFG) == 0.0
    late = {**state[skey], "hw": T0.timestamp() + week_and_grace + 5}
    assert next_prune(skey, late, ICFG) == 0.0


def test_next_level_drop_is_when_the_score_falls_below_its_level() -> None:
    rows: dict[str, Any] = {}
    table = RiskTable(rows, RCFG)
    t = T0.timestamp()
    table.add({"id": "a", "street": "haibin", "category": "labor", "weight": 30.0, "time": t})
    row = rows[risk_key("haibin", "labor")]
    assert row["level"] == "orange"  # 30 ≥ 20
    week = RCFG.half_life.total_seconds()
    # 30 × 0.5^(age / week) < 20 once age > week × log2(1.5); a second early, to be safe
    drop = next_level_drop(row, RCFG)
    assert drop is not None and abs(drop - (t + week * math.log2(1.5) - 1.0)) < 1e-3
    table.refresh(datetime.fromtimestamp(drop, UTC), list(rows))
    assert rows[risk_key("haibin", "labor")]["level"] == "orange"  # a second early: not yet
    table.refresh(datetime.fromtimestamp(t + week, UTC), list(rows))  # 15: yellow
    row = rows[risk_key("haibin", "labor")]
    assert row["level"] == "yellow"
    # from 15 at one week, below 10 after another week × log2(1.5)
    drop = next_level_drop(row, RCFG)
    assert drop is not None and abs(drop - (t + week + week * math.log2(1.5) - 1.0)) < 1e-3
    # a row already below its level (a threshold lowered since): at once after its time
    assert next_level_drop({**row, "score": 3.0}, RCFG) == row["as_of"]
    green = {**row, "level": LEVELS[0], "score": 0.1}
    assert next_level_drop(green, RCFG) is None and next_level_drop(None, RCFG) is None


def test_incident_ticks_through_the_index_give_what_walking_every_row_gives() -> None:
    rng = random.Random(20261201)
    full_state: dict[str, Any] = {}
    idx_state: dict[str, Any] = {}
    full, indexed = IncidentDetector(full_state, ICFG), IncidentDetector(idx_state, ICFG)
    index = DueIndex(lambda k, row: next_prune(k, row, ICFG))
    index.build(0, ())
    now = T0
    dropped = raised = 0
    for step in range(4000):
        now += timedelta(minutes=rng.choice(GAPS_MIN))
        if rng.random() < 0.7:
            rule = rng.choice(RULES)
            key = f"k{rng.randint(0, 40)}"
            when = now - timedelta(minutes=rng.randint(0, 3000))  # sometimes late
            m = member(f"c{step}", when, rng)
            expected = full.handle(rule, key, dict(m), now)
            got = indexed.handle(rule, key, dict(m), now)
            assert [o.value for o in got] == [o.value for o in expected]
            raised += len(expected)
            skey = state_key(rule, key)
            index.note(0, skey, idx_state.get(skey))
        else:
            expected_dropped = full.prune(now, list(full_state))
            due = index.take_due(0, now.timestamp())
            got_dropped = indexed.prune(now, due)
            note_all(index, 0, due, idx_state.get)
            assert got_dropped == expected_dropped
            assert idx_state == full_state
            dropped += got_dropped
            assert index.size(0) <= 2 * len(idx_state) + 10
    assert dropped > 50 and raised > 50  # windows did close, and incidents were raised


def test_risk_ticks_through_the_index_give_what_walking_every_row_gives() -> None:
    rng = random.Random(20261202)
    full_rows: dict[str, Any] = {}
    idx_rows: dict[str, Any] = {}
    full, indexed = RiskTable(full_rows, RCFG), RiskTable(idx_rows, RCFG)
    index = DueIndex(lambda _k, row: next_level_drop(row, RCFG))
    index.build(0, ())
    now = T0
    changes = 0
    for step in range(6000):
        now += timedelta(minutes=rng.choice(RISK_GAPS_MIN))
        if rng.random() < 0.7:
            street, category = rng.choice(("haibin", "yongzhong")), rng.choice(("labor", "land"))
            c = {
                "id": f"c{step}",
                "street": street,
                "category": category,
                "weight": rng.choice((1.0, 2.0, 4.0, 10.0)),
                "time": (now - timedelta(minutes=rng.randint(0, 600))).timestamp(),
            }
            expected = full.add(dict(c))
            got = indexed.add(dict(c))
            assert [o.value for o in got] == [o.value for o in expected]
            key = risk_key(street, category)
            index.note(0, key, idx_rows.get(key))
        else:
            expected = full.refresh(now, list(full_rows))
            due = index.take_due(0, now.timestamp())
            got = indexed.refresh(now, due)
            note_all(index, 0, due, idx_rows.get)
            assert sorted(o.value["id"] for o in got) == sorted(o.value["id"] for o in expected)
            assert idx_rows == full_rows
            changes += len(got)
    # a row written with every case holds one entry, not one per write
    assert index.size(0) <= 2 * len(idx_rows) + 2
    assert changes > 50  # levels did fall on ticks


def test_a_row_written_again_and_again_keeps_one_entry_until_an_earlier_time_comes() -> None:
    index = DueIndex(lambda _k, row: row)
    index.build(0, ())
    for t in (500.0, 700.0, 900.0):  # later and later: the 500 entry will look anyway
        index.note(0, "r", t)
    assert index.size(0) == 1
    index.note(0, "r", 300.0)  # earlier: pushed
    assert index.size(0) == 2
    assert index.take_due(0, 400.0) == ["r"]
    index.note(0, "r", 900.0)  # looked at and noted again: the stale 500 is still there
    assert index.take_due(0, 600.0) == ["r"]  # one look too early, harmless
    index.note(0, "r", 900.0)
    assert index.take_due(0, 899.0) == [] and index.take_due(0, 900.0) == ["r"]
