"""Derived events as other parts of the platform publish them, built from the contracts.

The incident, risk, SLA and lifecycle producers are built elsewhere; the monitoring tests
publish envelopes of the same contracts directly, validated by the same pydantic models.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from producers.sample import dispute, petition, wage_arrears
from schemas.events import DERIVED_TYPES, dump


def derived(event_id: str, type_: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """A derived envelope whose data has been validated by its contract model."""
    model = DERIVED_TYPES[type_].model_validate(data)
    return {
        "id": event_id,
        "source": "fengqiao/worker",
        "type": type_,
        "time": when.isoformat(),
        "subject": data.get("case_id"),
        "data": dump(model),
    }


def routed(case_id: str, when: datetime, committee: str = "haibin-street", **kw: Any) -> dict:
    data = {
        "case_id": case_id,
        "kind": "dispute",
        "street": "haibin",
        "category": "contract",
        "committee_id": committee,
        "committee_type": "street",
        "tier": "street",
        "rule_id": "default",
        "ruleset_version": "test",
        "reasons": ["test"],
        "rejected": [],
        "deadline": (when + timedelta(days=30)).isoformat(),
    } | kw
    return derived(f"{case_id}/routed", "case.routed.v1", when, data)


def risk(street: str, category: str, level: str, score: float, when: datetime, prev=None) -> dict:
    return derived(
        f"risk:{street}/{category}:{when.timestamp():.0f}",
        "risk.level_changed.v1",
        when,
        {
            "street": street,
            "category": category,
            "score": score,
            "level": level,
            "previous_level": prev,
        },
    )


def incident(incident_id: str, when: datetime, people: int, cases: list[str], **kw: Any) -> dict:
    data = {
        "incident_id": incident_id,
        "rule_id": "wage_employer",
        "key": "name:张三装修队",
        "window_start": (when - timedelta(days=7)).isoformat(),
        "window_end": when.isoformat(),
        "case_ids": cases,
        "people": people,
        "amount_yuan": "250000",
    } | kw
    return derived(f"{incident_id}/{len(cases)}", "incident.detected.v1", when, data)


def escalation(escalation_id: str, when: datetime, **kw: Any) -> dict:
    data = {
        "escalation_id": escalation_id,
        "level": "district",
        "to_committee_id": "district-center",
        "reason": "group incident",
    } | kw
    return derived(escalation_id, "escalation.raised.v1", when, data)


def lifecycle(type_: str, case_id: str, when: datetime, **kw: Any) -> dict:
    data = {"case_id": case_id, "committee_id": "haibin-street"} | kw
    return derived(f"{case_id}/{type_}", type_, when, data)


def sla(type_: str, case_id: str, when: datetime, **kw: Any) -> dict:
    data: dict[str, Any] = {
        "case_id": case_id,
        "committee_id": "haibin-street",
        "clock": "accept",
        "due": (when - timedelta(hours=1)).isoformat(),
    }
    if type_ == "sla.warning.v1":
        data["fraction"] = 0.8
    data |= kw
    return derived(f"{case_id}/{type_}/{data['clock']}", type_, when, data)


def dead_letter(offset: int, when: datetime, error_class: str = "payload") -> dict:
    return derived(
        f"deadletter:intake.disputes:0:{offset}",
        "deadletter.v1",
        when,
        {
            "original_b64": "e30=",
            "source_topic": "intake.disputes",
            "partition": 0,
            "offset": offset,
            "reason": "data.street: required field is missing",
            "error_class": error_class,
            "received_at": when.isoformat(),
        },
    )


def every_kind(when: datetime, tag: str = "k") -> list[tuple[str, dict[str, Any]]]:
    """(topic, envelope) touching every metric family the sink exports (except lag)."""
    rng = random.Random(7)
    c1, c2 = f"{tag}-case-1", f"{tag}-case-2"
    return [
        ("intake.disputes", dispute(rng, c1, when, street="haibin", category="contract")),
        ("intake.petitions", petition(rng, f"{tag}-pet-1", when)),
        ("intake.wage-arrears", wage_arrears(rng, f"{tag}-wage-1", when)),
        (
            "intake.consultations",
            {
                "id": f"{tag}-cons-1",
                "source": "hotline/12348",
                "type": "consultation.recorded.v1",
                "time": when.isoformat(),
                "data": {"category": "legal_aid", "channel": "hotline", "summary": "x"},
            },
        ),
        ("intake.disputes", dispute(rng, c1, when, street="haibin", category="contract")),
        ("intake.deadletter", dead_letter(1, when)),
        ("cases.routed", routed(c1, when)),
        ("cases.routed", routed(c2, when - timedelta(days=40), committee="puzhou-street")),
        ("cases.lifecycle", lifecycle("case.accepted.v1", c1, when)),
        (
            "cases.lifecycle",
            lifecycle(
                "case.transferred.v1",
                c2,
                when,
                committee_id="puzhou-street",
                to_committee_id="yaoxi-street",
                reason="jurisdiction",
            ),
        ),
        (
            "cases.lifecycle",
            lifecycle("case.concluded.v1", c1, when, outcome="agreement", agreed_amount_yuan="800"),
        ),
        ("incidents", incident(f"inc-{tag}", when, 12, [c1, c2])),
        ("escalations", escalation(f"esc-{tag}", when, incident_id=f"inc-{tag}")),
        ("risk.levels", risk("haibin", "labor", "orange", 25.0, when, "yellow")),
        ("sla.alerts", sla("sla.warning.v1", c2, when)),
        ("sla.alerts", sla("sla.breached.v1", c2, when, escalated_to_tier="district")),
    ]
