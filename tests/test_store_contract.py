"""One contract for every case store: in memory, SQLite, and a real PostgreSQL server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.store import CaseQuery, CaseStore, Incoming, MemoryStore
from tests.casetools import T0, escalation, incident, item, lifecycle, routed


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaseStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    from consumers.db import SqlStore

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = SqlStore.open(url)
    try:
        yield s
    finally:
        s.close()


def inbox(store: CaseStore, committee: str, **q: object) -> list[str]:
    page = store.list_cases(committee, CaseQuery(**q), T0)  # type: ignore[arg-type]
    return [c.case_id for c in page.items]


def test_routed_case_lands_in_its_committee_inbox_once(store: CaseStore) -> None:
    r = store.apply([item("cases.routed", routed("c1", "a")), item("cases.routed", routed("c2"))])
    assert (r.applied, r.duplicates) == (2, 0)
    again = store.apply([item("cases.routed", routed("c1", "a"))])
    assert (again.applied, again.duplicates) == (0, 1)
    assert inbox(store, "a") == ["c1"]
    c = store.get_case("c1")
    assert c is not None
    assert (c.committee_id, c.status, c.rule_id, c.ruleset_version) == (
        "a",
        "new",
        "default",
        "test-1",
    )
    assert c.reasons == ["Test rule: every case goes to a."]
    assert c.rejected == [{"rule_id": "family", "reason": "not a family dispute"}]
    assert c.routed_at == T0 and c.routed_at.tzinfo is not None
    assert c.deadline == T0 + timedelta(days=30)
    assert store.event_ids() == {"c1/routed", "c2/routed"}
    assert store.get_case("nope") is None


def test_lifecycle_events_move_the_case(store: CaseStore) -> None:
    store.apply([item("cases.routed", routed("c1", "a"))])
    store.apply([item("cases.lifecycle", lifecycle("c1", "accept", 0, "a"))])
    assert store.get_case("c1").status == "accepted"  # type: ignore[union-attr]
    store.apply(
        [
            item(
                "cases.lifecycle",
                lifecycle("c1", "transfer", 1, "a", to_committee_id="b", reason="labour matter"),
            )
        ]
    )
    assert inbox(store, "a") == []
    assert inbox(store, "b") == ["c1"]
    c = store.get_case("c1")
    assert c is not None and (c.status, c.state.version) == ("new", 2)
    store.apply([item("cases.lifecycle", lifecycle("c1", "accept", 2, "b"))])
    store.apply(
        [
            item(
                "cases.lifecycle",
                lifecycle("c1", "conclude", 3, "b", outcome="agreement", agreed_amount_yuan="800"),
            )
        ]
    )
    c = store.get_case("c1")
    assert c is not None
    assert (c.status, c.state.outcome, c.state.agreed_amount_yuan) == (
        "concluded",
        "agreement",
        "800",
    )
    hist = store.history("c1")
    assert [h.type for h in hist] == [
        "case.routed.v1",
        "case.accepted.v1",
        "case.transferred.v1",
        "case.accepted.v1",
        "case.concluded.v1",
    ]
    assert all(h.applied for h in hist)


def test_a_forbidden_lifecycle_event_is_recorded_but_changes_nothing(store: CaseStore) -> None:
    store.apply([item("cases.routed", routed("c1", "a"))])
    store.apply([item("cases.lifecycle", lifecycle("c1", "conclude", 0, "a", outcome="withdrawn"))])
    assert store.get_case("c1").status == "new"  # type: ignore[union-attr]
    last = store.history("c1")[-1]
    assert not last.applied
    assert last.note == "the case is new; a case must be accepted before it is concluded"


def test_lifecycle_before_routing_is_applied_when_the_case_arrives(store: CaseStore) -> None:
    store.apply([item("cases.lifecycle", lifecycle("c9", "accept", 0, "a"))])
    assert store.get_case("c9") is None
    store.apply([item("cases.routed", routed("c9", "a"))])
    c = store.get_case("c9")
    assert c is not None and c.status == "accepted"
    assert all(h.applied for h in store.history("c9"))


def test_incident_is_updated_in_place_and_old_replays_do_not_regress(store: CaseStore) -> None:
    store.apply([item("incidents", incident("inc-1", ["c1", "c2", "c3"], 12, T0))])
    store.apply(
        [
            item(
                "incidents",
                incident("inc-1", ["c1", "c2", "c3", "c4"], 15, T0 + timedelta(hours=1)),
            )
        ]
    )
    old = incident("inc-1", ["c1"], 4, T0 - timedelta(hours=1))
    old["id"] = "inc-1/old"
    store.apply([item("incidents", old)])
    rows = store.incidents()
    assert len(rows) == 1
    assert (rows[0]["people"], rows[0]["case_ids"]) == (15, ["c1", "c2", "c3", "c4"])
    store.apply([item("escalations", escalation("esc-1", "inc-1"))] * 2)
    assert [e["escalation_id"] for e in store.escalations()] == ["esc-1"]


def test_dead_letters_from_intake_and_from_the_sink(store: CaseStore) -> None:
    intake_dl = {
        "id": "deadletter:intake.disputes:0:7",
        "source": "fengqiao/worker",
        "type": "deadletter.v1",
        "time": T0.isoformat(),
        "subject": None,
        "data": {
            "original_b64": "e30=",
            "source_topic": "intake.disputes",
            "partition": 0,
            "offset": 7,
            "reason": "data.street: required field is missing",
            "error_class": "payload",
            "received_at": T0.isoformat(),
        },
    }
    from consumers.sink import decode

    garbage = decode("cases.routed", 1, 42, b"\xff not json")
    wrong_type = decode("cases.routed", 1, 43, json.dumps(incident("x", [], 1)).encode())
    r = store.apply([item("intake.deadletter", intake_dl), garbage, wrong_type])
    assert (r.applied, r.dead_letters) == (1, 2)
    dls = {d.event_id: d for d in store.dead_letters()}
    assert dls["deadletter:intake.disputes:0:7"].origin == "intake"
    g = dls["sink-deadletter:cases.routed:1:42"]
    assert (g.origin, g.error_class, g.offset) == ("sink", "decode", 42)
    w = dls["sink-deadletter:cases.routed:1:43"]
    assert w.error_class == "type"
    # replaying the same bad message does not add a second dead letter
    assert store.apply([decode("cases.routed", 1, 42, b"\xff not json")]).duplicates == 1


def test_a_failing_batch_leaves_no_trace(store: CaseStore) -> None:
    broken = Incoming(event_id="bad", topic="cases.routed", type="case.routed.v1", time=T0, data={})
    with pytest.raises(KeyError):
        store.apply([item("cases.routed", routed("c1", "a")), broken])
    assert store.event_ids() == set()
    assert store.get_case("c1") is None
    assert store.history("c1") == []


def test_filters_and_paging(store: CaseStore) -> None:
    store.apply(
        [
            item("cases.routed", routed("c1", "a", kind="dispute", category="contract")),
            item("cases.routed", routed("c2", "a", kind="petition", category="land")),
            item(
                "cases.routed",
                routed("c3", "a", kind="dispute", deadline=T0 - timedelta(days=1)),
            ),
            item("cases.routed", routed("c4", "b")),
        ]
    )
    store.apply([item("cases.lifecycle", lifecycle("c1", "accept", 0, "a"))])
    assert inbox(store, "a") == ["c3", "c1", "c2"]  # soonest deadline first
    assert inbox(store, "a", status="accepted") == ["c1"]
    assert inbox(store, "a", kind="petition") == ["c2"]
    assert inbox(store, "a", category="contract") == ["c3", "c1"]
    assert inbox(store, "a", overdue=True) == ["c3"]
    assert inbox(store, "a", overdue=False) == ["c1", "c2"]
    page = store.list_cases("a", CaseQuery(limit=2, offset=1), T0)
    assert ([c.case_id for c in page.items], page.total) == (["c1", "c2"], 3)


def test_tokens_resolve_to_their_committee(store: CaseStore) -> None:
    from consumers.tokens import hash_token, new_token

    tok = new_token()
    store.add_token("a", hash_token(tok), "desk 1")
    assert store.committee_for_token(hash_token(tok)) == "a"
    assert store.committee_for_token(hash_token(tok + "x")) is None


def test_tokens_are_listed_by_id_and_revoked(store: CaseStore) -> None:
    from consumers.tokens import hash_token, new_token

    tokens = [new_token() for _ in range(3)]
    store.add_token("b", hash_token(tokens[0]), "desk 1")
    store.add_token("a", hash_token(tokens[1]), None)
    store.add_token("a", hash_token(tokens[2]), "night shift")
    listed = store.list_tokens()
    assert [(i.committee_id, i.label) for i in listed] == [
        ("a", None),
        ("a", "night shift"),
        ("b", "desk 1"),
    ]
    assert [i.token_id for i in listed] == [hash_token(t)[:12] for t in tokens[1:] + tokens[:1]]
    assert all(t not in repr(listed) for t in tokens)  # the tokens themselves never appear

    gone = store.revoke_token(listed[0].token_id.upper())
    assert gone is not None and gone.committee_id == "a"
    assert store.committee_for_token(hash_token(tokens[1])) is None
    assert store.committee_for_token(hash_token(tokens[2])) == "a"
    assert store.revoke_token(listed[0].token_id) is None  # already gone
    assert len(store.list_tokens()) == 2
    with pytest.raises(ValueError, match="6-12 hex"):
        store.revoke_token("abc")
    with pytest.raises(ValueError, match="6-12 hex"):
        store.revoke_token("not-hex!")


def test_a_token_id_that_names_two_tokens_is_refused(store: CaseStore) -> None:
    store.add_token("a", "abcdef0123" + "0" * 54, None)
    store.add_token("a", "abcdef0124" + "0" * 54, None)
    with pytest.raises(ValueError, match="2 tokens start with abcdef"):
        store.revoke_token("abcdef")
    assert len(store.list_tokens()) == 2
    assert store.revoke_token("abcdef0124") is not None


def test_one_batch_with_repeats_and_lifecycle_in_between(store: CaseStore) -> None:
    rerouted = routed("c1", "z")
    rerouted["id"] = "c1/routed-again"
    r = store.apply(
        [
            item("cases.routed", routed("c1", "a")),
            item("cases.routed", routed("c1", "a")),  # same event twice in one batch
            item("cases.routed", rerouted),  # same case, another event: first routing stands
            item("cases.lifecycle", lifecycle("c1", "accept", 0, "a")),
            item("cases.routed", routed("c2", "a")),
        ]
    )
    assert (r.applied, r.duplicates) == (4, 1)
    c = store.get_case("c1")
    assert c is not None and (c.committee_id, c.status) == ("a", "accepted")
    hist = store.history("c1")
    assert [(h.event_id, h.applied) for h in hist] == [
        ("c1/routed", True),
        ("c1/routed-again", False),
        ("c1/accepted/0", True),
    ]
    assert hist[1].note == "the case was already routed; the first routing stands"
    assert store.event_ids() == {"c1/routed", "c1/routed-again", "c1/accepted/0", "c2/routed"}


def _transfer(case_id: str, version: int, by: str, to: str) -> Incoming:
    return item(
        "cases.lifecycle",
        lifecycle(case_id, "transfer", version, by, to_committee_id=to, reason="labour matter"),
    )


def test_an_accept_sent_right_after_a_transfer_is_not_applied(store: CaseStore) -> None:
    """Committee a transfers the case to b and at once accepts it: both were made against
    version 0, so only the transfer is applied and the case ends new in b's inbox."""
    store.apply([item("cases.routed", routed("c1", "a"))])
    store.apply(
        [_transfer("c1", 0, "a", "b"), item("cases.lifecycle", lifecycle("c1", "accept", 0, "a"))]
    )
    c = store.get_case("c1")
    assert c is not None and (c.committee_id, c.status, c.state.version) == ("b", "new", 1)
    accept = store.history("c1")[-1]
    assert (accept.type, accept.applied) == ("case.accepted.v1", False)
    assert accept.note == "committee a no longer holds the case; it belongs to b"


def test_an_action_made_against_an_older_version_is_not_applied(store: CaseStore) -> None:
    store.apply([item("cases.routed", routed("c1", "a"))])
    store.apply([item("cases.lifecycle", lifecycle("c1", "accept", 0, "a"))])
    assign_v0 = lifecycle("c1", "assign", 0, "a", mediator_id="m1")
    store.apply([item("cases.lifecycle", assign_v0)])
    c = store.get_case("c1")
    assert c is not None and (c.assignee, c.state.version) == (None, 1)
    last = store.history("c1")[-1]
    assert not last.applied
    assert last.note == "the case changed since the action was made (version 0, now 1)"


def test_an_old_event_without_a_version_is_checked_for_committee_and_state(
    store: CaseStore,
) -> None:
    store.apply([item("cases.routed", routed("c1", "a")), item("cases.routed", routed("c2", "a"))])
    old = lifecycle("c1", "accept", 0, "a")
    del old["data"]["version"]
    wrong = lifecycle("c2", "accept", 0, "b")
    del wrong["data"]["version"]
    store.apply([item("cases.lifecycle", old), item("cases.lifecycle", wrong)])
    assert store.get_case("c1").status == "accepted"  # type: ignore[union-attr]
    assert store.get_case("c2").status == "new"  # type: ignore[union-attr]


def test_stale_events_that_overtook_the_routing_are_refused_when_it_arrives(
    store: CaseStore,
) -> None:
    store.apply([_transfer("c9", 0, "a", "b")])
    store.apply([item("cases.lifecycle", lifecycle("c9", "accept", 0, "a"))])
    store.apply([item("cases.routed", routed("c9", "a"))])
    c = store.get_case("c9")
    assert c is not None and (c.committee_id, c.status) == ("b", "new")
    assert [(h.type, h.applied) for h in store.history("c9")] == [
        ("case.transferred.v1", True),
        ("case.accepted.v1", False),
        ("case.routed.v1", True),
    ]


def test_a_refused_transfer_is_kept_in_the_history_and_moves_nothing(store: CaseStore) -> None:
    from consumers.sink import refuse_unknown_committee

    store.apply([item("cases.routed", routed("c1", "a"))])
    refused = refuse_unknown_committee(_transfer("c1", 0, "a", "nowhere"), {"a", "b"})
    kept = refuse_unknown_committee(_transfer("c2", 0, "a", "b"), {"a", "b"})
    assert kept.refused is None
    r = store.apply([refused])
    assert (r.applied, r.dead_letters) == (1, 0)
    c = store.get_case("c1")
    assert c is not None and (c.committee_id, c.state.version) == ("a", 0)
    last = store.history("c1")[-1]
    assert (last.type, last.applied) == ("case.transferred.v1", False)
    assert last.note == "the committee the case was transferred to is not in the catalogue"
    assert inbox(store, "a") == ["c1"]
    # an event refused before its case arrived stays refused once it does
    store.apply([refuse_unknown_committee(_transfer("c5", 0, "a", "nowhere"), {"a"})])
    store.apply([item("cases.routed", routed("c5", "a"))])
    assert store.get_case("c5").committee_id == "a"  # type: ignore[union-attr]
    assert not store.history("c5")[0].applied


def test_assignment_is_stored_filtered_and_cleared_by_a_transfer(store: CaseStore) -> None:
    store.apply([item("cases.routed", routed(c, "a")) for c in ("c1", "c2", "c3")])
    store.apply(
        [
            item("cases.lifecycle", lifecycle("c1", "assign", 0, "a", mediator_id="m1", actor="h")),
            item("cases.lifecycle", lifecycle("c2", "assign", 0, "a", mediator_id="m2")),
        ]
    )
    assert inbox(store, "a", assignee="m1") == ["c1"]
    assert inbox(store, "a", unassigned=True) == ["c3"]
    assert store.history("c1")[-1].actor == "h"
    store.apply([_transfer("c1", 1, "a", "b")])
    c = store.get_case("c1")
    assert c is not None and (c.committee_id, c.assignee, c.state.version) == ("b", None, 2)
    assert inbox(store, "a", assignee="m1") == []
    assert inbox(store, "b", unassigned=True) == ["c1"]


def test_several_committees_and_the_street_filter(store: CaseStore) -> None:
    other = routed("c3", "b", deadline=T0 + timedelta(days=2))
    other["data"]["street"] = "haibin"
    store.apply(
        [
            item("cases.routed", routed("c1", "a", deadline=T0 + timedelta(days=5))),
            item("cases.routed", routed("c2", "c", deadline=T0 + timedelta(days=1))),
            item("cases.routed", other),
        ]
    )
    assert inbox(store, ["a", "b"]) == ["c3", "c1"]  # type: ignore[arg-type]
    assert inbox(store, {"a", "b", "c"}, street="haibin") == ["c3"]  # type: ignore[arg-type]
    assert inbox(store, ["a", "b", "c"]) == ["c2", "c3", "c1"]  # type: ignore[arg-type]
    assert inbox(store, []) == []  # type: ignore[arg-type]
    page = store.list_cases(["a", "b", "c"], CaseQuery(limit=1, offset=1), T0)
    assert ([c.case_id for c in page.items], page.total) == (["c3"], 3)


def test_the_routing_explanation_and_extra_keys_of_rejected_rules_are_kept(
    store: CaseStore,
) -> None:
    env = routed("c1", "a")
    explanation = {
        "reasons": [{"code": "street_default", "params": {"street": "yongzhong", "n": 2}}],
        "rejected": [{"rule_id": "family", "code": "category_mismatch", "params": {}}],
    }
    env["data"]["explanation"] = explanation
    env["data"]["rejected"] = [
        {"rule_id": "family", "reason": "not a family dispute", "code": "category_mismatch"}
    ]
    store.apply([item("cases.routed", env), item("cases.routed", routed("c2", "a"))])
    c1, c2 = store.get_case("c1"), store.get_case("c2")
    assert c1 is not None and c2 is not None
    assert c1.explanation == explanation
    assert c1.rejected == [
        {"rule_id": "family", "reason": "not a family dispute", "code": "category_mismatch"}
    ]
    assert c2.explanation is None
