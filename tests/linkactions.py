"""A case store with reports linked the way the worker links them, for the tests of the
mediator's "not the same matter" (unlink) and "link another case" actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from consumers.store import CaseStore
from tests.casetools import T0, dispute_report, item, routed


def linked_env(case_id: str, report_id: str, channel: str = "walkin") -> dict[str, Any]:
    """``case.linked.v1`` as the worker publishes it when a report joins an open case."""
    return {
        "id": f"{report_id}/linked",
        "source": "fengqiao/worker",
        "type": "case.linked.v1",
        "time": (T0 + timedelta(days=1)).isoformat(),
        "subject": case_id,
        "data": {
            "case_id": case_id,
            "report_id": report_id,
            "channel": channel,
            "matched": ["applicant_phone"],
            "kind": "dispute",
            "reported_at": (T0 + timedelta(days=1)).isoformat(),
        },
    }


def plant(store: CaseStore, a: str, b: str) -> None:
    """c1 and c2 of committee ``a`` (c1 with a walk-in report wk-8 linked to it), c3 of
    ``b``, and c4 of ``a`` concluded."""
    store.apply(
        [
            item("intake.disputes", dispute_report("c1", subject="c1"), 0),
            item(
                "intake.disputes",
                dispute_report(
                    "wk-8",
                    time=T0 + timedelta(days=1),
                    source="walkin/yongzhong",
                    channel="walkin",
                    summary="邻居装修噪音扰民",
                ),
                1,
            ),
            item(
                "intake.disputes",
                dispute_report("c2", subject="c2", source="miniapp/longwan", channel="miniapp"),
                2,
            ),
        ]
    )
    store.apply(
        [
            item("cases.routed", routed("c1", a), 0),
            item("cases.routed", routed("c2", a), 1),
            item("cases.routed", routed("c3", b), 2),
            item("cases.routed", routed("c4", a), 3),
            item("cases.lifecycle", linked_env("c1", "wk-8"), 4),
        ]
    )
    accept = {
        "id": "c4/accepted/0",
        "source": "fengqiao/inbox",
        "type": "case.accepted.v1",
        "time": T0.isoformat(),
        "subject": "c4",
        "data": {"case_id": "c4", "committee_id": a, "version": 0},
    }
    conclude = {
        **accept,
        "id": "c4/concluded/1",
        "type": "case.concluded.v1",
        "data": {"case_id": "c4", "committee_id": a, "version": 1, "outcome": "withdrawn"},
    }
    store.apply([item("cases.lifecycle", accept, 5), item("cases.lifecycle", conclude, 6)])
