"""A tick handled in the same batch as the items before it sees the rows they added, and the
rows its table's due index says are due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.agents.oversight import due_keys
from streams.dueindex import DueIndex
from streams.writeback import WriteBack


class Store(dict[str, Any]):
    def __init__(self, rows: dict[str, Any], partitions: dict[str, int]) -> None:
        super().__init__(rows)
        self._key_partition = partitions


class Table(dict[str, Any]):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.data = store


def test_a_tick_sees_the_rows_written_earlier_in_its_batch_and_not_other_partitions() -> None:
    table = Table(Store({"a": 1, "b": 2, "c": 3, "d": 0}, {"a": 1, "b": 1, "c": 0, "d": 1}))
    # rows holding 0 are due at once; the others never
    due = DueIndex(lambda _k, row: 0.0 if row == 0 else None)
    view = WriteBack(table, lambda k, v: 1)
    view["new"] = 4  # added by an item earlier in the batch, not yet written back
    view["a"] = 5  # changed: listed once
    del view["b"]  # deleted in the batch: nothing left to look at
    now = lambda: datetime.fromtimestamp(2000.0, UTC)  # noqa: E731
    taken: list[str] = []
    keys = due_keys(due, table, view, 1, 2, now, taken)
    assert keys == ["d", "new", "a"] and taken == ["d"]  # "c" is partition 0's
    assert view.get("b") is None and view.get("new") == 4


def test_an_sla_tick_takes_the_due_rows_and_those_its_batch_changed() -> None:
    from streams.sla import SlaConfig
    from streams.sladue import sla_due_index

    def row(due: float) -> dict[str, Any]:
        clock = {"start": due - 100.0, "due": due, "state": "running", "warned": True}
        return {"routed": True, "done_at": None, "clocks": {"accept": clock}}

    table = Table(
        Store(
            {"soon": row(1000.0), "later": row(5000.0), "other": row(10.0)},
            {"soon": 1, "later": 1, "other": 0},
        )
    )
    due = sla_due_index(SlaConfig())
    view = WriteBack(table, lambda k, v: 1)
    view["fresh"] = row(9000.0)  # routed earlier in the batch: looked at, not yet due
    taken: list[str] = []
    now = lambda: datetime.fromtimestamp(2000.0, UTC)  # noqa: E731
    keys = due_keys(due, table, view, 1, 2, now, taken)
    assert due.built(1) and not due.built(0)  # built from partition 1's rows only
    assert keys == ["soon", "fresh"] and taken == ["soon"]
    # taken off the heap: the next tick at the same time does not look again
    assert due_keys(due, table, WriteBack(table), 1, 2, now, []) == []


def test_a_message_of_claims_announces_its_incident_once_with_every_claim() -> None:
    """The incident agent's handling of one internal message: six claims against one
    employer raise an incident at the third and update it three times, announced once."""
    from fengqiao.settings import Settings
    from fengqiao.workerwiring import rule_params
    from streams.agents.oversight import handle
    from streams.tablelogic import IncidentStep
    from streams.watch import incident_config

    now = datetime(2026, 3, 1, tzinfo=UTC)
    step = IncidentStep(incident_config(rule_params(Settings())), lambda: now)
    items = [
        {
            "rule_id": "wage_employer",
            "key": "uscc:A",
            "member": {
                "case_id": f"w{i}",
                "t": now.timestamp() + i,
                "people": 1,
                "amount": "1000",
                "street": "haibin",
                "category": "labor",
            },
        }
        for i in range(6)
    ]
    errors = {"incidents": 0}
    outs = handle(step, WriteBack({}), {"items": items}, lambda: [], errors, 7)
    [incident] = [o for o in outs if o.topic == "incidents"]
    assert incident.value["data"]["case_ids"] == [f"w{i}" for i in range(6)]
    assert [o.topic for o in outs].count("escalations") == 1 and errors == {"incidents": 0}
