"""The SLA due index: a tick that checks only the rows the index says are due gives exactly
the alerts, escalations and forgotten rows of a tick that checks every row (ordered by when
the rows fell due instead of by the table's order, which recovery does not keep anyway)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.dueindex import note_all
from streams.sla import SlaClocks, SlaConfig
from streams.sladue import next_look, sla_due_index

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CFG = SlaConfig()
KINDS = ("dispute", "petition", "wage_arrears")
LIFECYCLE = ("case.accepted.v1", "case.transferred.v1", "case.concluded.v1", "case.closed.v1")


def routed(cid: str, kind: str, t: datetime) -> dict[str, Any]:
    return {
        "case_id": cid,
        "kind": kind,
        "street": "haibin",
        "category": "labor",
        "committee_id": "haibin-community",
        "tier": "community",
        "time": t.timestamp(),
    }


def test_next_look_is_the_warning_then_the_deadline_then_forgetting() -> None:
    rows: dict[str, Any] = {}
    clocks = SlaClocks(rows, CFG)
    clocks.routed(routed("c1", "dispute", T0))
    row = rows["c1"]
    day = 86400.0
    # accept: 1 day, warned at 0.8 of it; conclude: 30 days
    assert next_look(row, CFG) == T0.timestamp() + 0.8 * day
    clocks.check(T0 + timedelta(hours=20), ["c1"])  # the accept warning
    assert next_look(rows["c1"], CFG) == T0.timestamp() + day
    clocks.lifecycle("case.accepted.v1", {"case_id": "c1"}, T0 + timedelta(hours=21))
    assert next_look(rows["c1"], CFG) == T0.timestamp() + 0.8 * 30 * day
    done = T0 + timedelta(days=2)
    clocks.lifecycle("case.concluded.v1", {"case_id": "c1"}, done)
    assert next_look(rows["c1"], CFG) == done.timestamp() + CFG.retention.total_seconds()
    # a lifecycle event before the routing decision: nothing to do until it is routed
    clocks.lifecycle("case.accepted.v1", {"case_id": "early"}, T0)
    assert next_look(rows["early"], CFG) is None
    assert next_look(None, CFG) is None


def test_ticks_through_the_index_give_what_walking_every_row_gives() -> None:
    rng = random.Random(20261201)
    full_rows: dict[str, Any] = {}
    full = SlaClocks(full_rows, CFG)
    idx_rows: dict[str, Any] = {}
    indexed = SlaClocks(idx_rows, CFG)
    index = sla_due_index(CFG)
    index.build(0, ())
    now = T0
    cids: list[str] = []
    alerts = 0
    for step in range(4000):
        now += timedelta(minutes=rng.choice((1, 30, 90, 600, 2000)))
        roll = rng.random()
        if roll < 0.45:
            cid = f"c{step}"
            cids.append(cid)
            info = routed(cid, rng.choice(KINDS), now - timedelta(minutes=rng.randint(0, 60)))
            full.routed(info)
            indexed.routed(info)
            index.note(0, cid, idx_rows.get(cid))
        elif roll < 0.75 and cids:
            cid = rng.choice(cids + [f"early{step}"])  # sometimes before its routing
            type_ = rng.choice(LIFECYCLE)
            data = {"case_id": cid, "to_committee_id": "haibin-street"}
            full.lifecycle(type_, data, now)
            indexed.lifecycle(type_, data, now)
            index.note(0, cid, idx_rows.get(cid))
        else:
            expected = full.check(now, list(full_rows))
            due = index.take_due(0, now.timestamp())
            got = indexed.check(now, due)
            note_all(index, 0, due, idx_rows.get)
            # the same outputs; in the order the rows fell due rather than the table's order
            assert sorted(o.value["id"] for o in got) == sorted(o.value["id"] for o in expected)
            assert idx_rows == full_rows
            alerts += len(got)
            # the heap holds a hint per row at most a few times over, not every past write
            assert index.size(0) <= 3 * len(idx_rows) + 10
    assert alerts > 100  # the walk did reach warnings, breaches and escalations


def test_an_index_not_built_ignores_notes_until_built_from_the_table() -> None:
    rows: dict[str, Any] = {}
    SlaClocks(rows, CFG).routed(routed("c1", "wage_arrears", T0))
    index = sla_due_index(CFG)
    index.note(3, "c1", rows["c1"])
    assert not index.built(3) and index.size(3) == 0
    index.build(3, rows.items())
    assert index.built(3) and index.rebuilds == 1
    assert index.take_due(3, T0.timestamp()) == []
    assert index.take_due(3, (T0 + timedelta(days=1)).timestamp()) == ["c1"]
    index.invalidate()
    assert not index.built(3)
