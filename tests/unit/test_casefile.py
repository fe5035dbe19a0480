"""The case file's state machine: which actions each state allows and what they do."""

from __future__ import annotations

from typing import Any

import pytest

from consumers import casefile
from consumers.casefile import CaseState
from tests.casetools import T0


def by(committee: str, version: int | None, **extra: Any) -> dict[str, Any]:
    """An action's data as the inbox publishes it: the acting committee and the version."""
    data: dict[str, Any] = {"committee_id": committee, **extra}
    if version is not None:
        data["version"] = version
    return data


def test_accept_conclude_close() -> None:
    s = CaseState("c1", "a")
    assert casefile.refusal(s, "conclude") is not None
    s = casefile.apply(s, "case.accepted.v1", by("a", 0), T0)
    assert (s.status, s.version, s.accepted_at) == ("accepted", 1, T0)
    s = casefile.apply(
        s,
        "case.concluded.v1",
        by("a", 1, outcome="agreement", agreed_amount_yuan="5000.00"),
        T0,
    )
    assert (s.status, s.outcome, s.agreed_amount_yuan, s.version) == (
        "concluded",
        "agreement",
        "5000.00",
        2,
    )
    assert "concluded" in (casefile.refusal(s, "accept") or "")
    assert casefile.refusal(s, "transfer", {"to_committee_id": "b"}) is not None
    s = casefile.apply(s, "case.closed.v1", by("a", 2), T0)
    assert s.status == "closed"


def test_transfer_moves_the_case_and_makes_it_new_and_unassigned_again() -> None:
    s = casefile.apply(CaseState("c1", "a"), "case.accepted.v1", by("a", 0), T0)
    s = casefile.apply(s, "case.assigned.v1", by("a", 1, mediator_id="m-7"), T0)
    assert (s.assignee, s.status, s.version) == ("m-7", "accepted", 2)
    s = casefile.apply(s, "case.transferred.v1", by("a", 2, to_committee_id="b", reason="r"), T0)
    assert (s.committee_id, s.status, s.accepted_at, s.assignee, s.version) == (
        "b",
        "new",
        None,
        None,
        3,
    )


def test_assign_only_while_open_and_not_twice_to_the_same_person() -> None:
    s = casefile.apply(CaseState("c1", "a"), "case.assigned.v1", by("a", 0, mediator_id="m"), T0)
    assert (s.status, s.assignee) == ("new", "m")  # assigning does not accept
    why = casefile.check(s, "assign", {"mediator_id": "m"})
    assert why is not None and why.message == "the case is already assigned to that mediator"
    s = casefile.apply(s, "case.assigned.v1", by("a", 1, mediator_id="n"), T0)  # reassign
    assert s.assignee == "n"
    done = CaseState("c1", "a", status="concluded")
    why = casefile.check(done, "assign", {"mediator_id": "m"})
    assert why is not None and why.status == 409 and why.message_zh.startswith("案件已办结")


def test_transfer_to_the_same_committee_is_refused() -> None:
    why = casefile.refusal(CaseState("c1", "a"), "transfer", {"to_committee_id": "a"})
    assert why == "the case already belongs to that committee"


def test_apply_refuses_what_the_state_forbids() -> None:
    s = casefile.apply(CaseState("c1", "a"), "case.accepted.v1", by("a", 0), T0)
    with pytest.raises(ValueError, match="only a new case can be accepted"):
        casefile.apply(s, "case.accepted.v1", by("a", 1), T0)


def test_an_action_by_a_committee_that_no_longer_holds_the_case_is_refused() -> None:
    s = CaseState("c1", "b", version=1)
    with pytest.raises(ValueError, match="committee a no longer holds the case"):
        casefile.apply(s, "case.accepted.v1", by("a", 1), T0)


def test_an_action_made_against_an_old_version_is_refused() -> None:
    s = CaseState("c1", "a", version=2)
    with pytest.raises(ValueError, match=r"changed since the action was made \(version 1, now 2"):
        casefile.apply(s, "case.accepted.v1", by("a", 1), T0)
    # an event from before versions were carried is checked for committee and state only
    assert casefile.apply(s, "case.accepted.v1", by("a", None), T0).status == "accepted"


def test_event_ids_are_deterministic_per_version() -> None:
    assert casefile.action_event_id("hl-1", "accept", 0) == "hl-1/accepted/0"
    assert casefile.action_event_id("hl-1", "transfer", 3) == "hl-1/transferred/3"
    assert casefile.action_event_id("hl-1", "assign", 1) == "hl-1/assigned/1"


def test_overdue_only_while_open() -> None:
    from datetime import timedelta

    assert casefile.is_overdue("new", T0, T0 + timedelta(seconds=1))
    assert not casefile.is_overdue("concluded", T0, T0 + timedelta(days=1))
    assert not casefile.is_overdue("accepted", T0, T0)
