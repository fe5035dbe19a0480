"""The case file's state machine: which actions each state allows and what they do."""

from __future__ import annotations

import pytest

from consumers import casefile
from consumers.casefile import CaseState
from tests.casetools import T0


def test_accept_conclude_close() -> None:
    s = CaseState("c1", "a")
    assert casefile.refusal(s, "conclude") is not None
    s = casefile.apply(s, "case.accepted.v1", {}, T0)
    assert (s.status, s.version, s.accepted_at) == ("accepted", 1, T0)
    s = casefile.apply(
        s, "case.concluded.v1", {"outcome": "agreement", "agreed_amount_yuan": "5000.00"}, T0
    )
    assert (s.status, s.outcome, s.agreed_amount_yuan, s.version) == (
        "concluded",
        "agreement",
        "5000.00",
        2,
    )
    assert "concluded" in (casefile.refusal(s, "accept") or "")
    assert casefile.refusal(s, "transfer", {"to_committee_id": "b"}) is not None
    s = casefile.apply(s, "case.closed.v1", {}, T0)
    assert s.status == "closed"


def test_transfer_moves_the_case_and_makes_it_new_again() -> None:
    s = casefile.apply(CaseState("c1", "a"), "case.accepted.v1", {}, T0)
    s = casefile.apply(s, "case.transferred.v1", {"to_committee_id": "b", "reason": "r"}, T0)
    assert (s.committee_id, s.status, s.accepted_at, s.version) == ("b", "new", None, 2)


def test_transfer_to_the_same_committee_is_refused() -> None:
    why = casefile.refusal(CaseState("c1", "a"), "transfer", {"to_committee_id": "a"})
    assert why == "the case already belongs to that committee"


def test_apply_refuses_what_the_state_forbids() -> None:
    with pytest.raises(ValueError, match="only a new case can be accepted"):
        s = casefile.apply(CaseState("c1", "a"), "case.accepted.v1", {}, T0)
        casefile.apply(s, "case.accepted.v1", {}, T0)


def test_event_ids_are_deterministic_per_version() -> None:
    assert casefile.action_event_id("hl-1", "accept", 0) == "hl-1/accepted/0"
    assert casefile.action_event_id("hl-1", "transfer", 3) == "hl-1/transferred/3"


def test_overdue_only_while_open() -> None:
    from datetime import timedelta

    assert casefile.is_overdue("new", T0, T0 + timedelta(seconds=1))
    assert not casefile.is_overdue("concluded", T0, T0 + timedelta(days=1))
    assert not casefile.is_overdue("accepted", T0, T0)
