"""One contract for every case store: in memory, SQLite, and a real PostgreSQL server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.store import CaseQuery, CaseStore, HistoryEntry, Incoming, MemoryStore
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


# --- the reports' facts ----------------------------------------------------------------------


def test_an_intake_report_keeps_its_facts_for_the_case_it_opens(store: CaseStore) -> None:
    from tests.casetools import PARTY_ID, PARTY_NAME, PARTY_PHONE, dispute_report, wage_report

    r = store.apply(
        [
            item("intake.disputes", dispute_report("rep-1")),
            item("cases.routed", routed("rep-1", "a")),
            item("intake.wage-arrears", wage_report("rep-2")),
        ]
    )
    assert (r.applied, r.duplicates, r.dead_letters) == (3, 0, 0)
    [rep] = store.reports_for_case("rep-1")
    assert (rep.report_id, rep.case_id, rep.kind, rep.source, rep.channel) == (
        "rep-1",
        "rep-1",
        "dispute",
        "hotline/12348",
        "hotline",
    )
    assert (rep.time, rep.street, rep.community) == (T0, "yongzhong", "yongzhong-01")
    assert rep.time.tzinfo is not None
    applicant = rep.data["parties"][0]
    assert (applicant["name"], applicant["phone"], applicant["id_number"]) == (
        PARTY_NAME,
        PARTY_PHONE,
        PARTY_ID,
    )
    assert rep.data["amount_yuan"] == "3500" and rep.data["summary"] == "楼上漏水，多次协商未果"
    [wage] = store.reports_for_case("rep-2")
    assert wage.kind == "wage_arrears" and wage.community is None
    assert wage.data["employer"]["name"] == "龙湾建工集团"
    assert wage.data["contact"] == {"name": "王建国", "phone": "0577-86901234"}
    assert wage.data["amount_yuan"] == "186000.50"
    assert store.reports_for_case("nope") == []
    assert {"rep-1", "rep-2"} <= store.event_ids()


def test_a_redelivered_report_is_a_duplicate_and_changes_nothing(store: CaseStore) -> None:
    from tests.casetools import dispute_report

    first = item("intake.disputes", dispute_report("rep-1"))
    changed = dispute_report("rep-1", summary="another text under the same id")
    assert store.apply([first, first]).duplicates == 1  # twice in one batch
    again = store.apply([item("intake.disputes", changed, offset=5)])
    assert (again.applied, again.duplicates) == (0, 1)
    [rep] = store.reports_for_case("rep-1")
    assert rep.data["summary"] == "楼上漏水，多次协商未果"  # the first delivery stands


def test_repeat_reports_of_a_case_are_listed_oldest_first(store: CaseStore) -> None:
    from tests.casetools import dispute_report, petition_report

    later = T0 + timedelta(days=2)
    store.apply(
        [
            item(
                "intake.disputes",
                dispute_report("rep-9", subject="case-7", time=later, source="walkin/yongzhong"),
            ),
            item("intake.disputes", dispute_report("rep-8", subject="case-7")),
            item("intake.petitions", petition_report("rep-10")),
        ]
    )
    reps = store.reports_for_case("case-7")
    assert [(r.report_id, r.case_id) for r in reps] == [("rep-8", "case-7"), ("rep-9", "case-7")]
    [pet] = store.reports_for_case("rep-10")
    assert pet.kind == "petition" and pet.data["petitioner_count"] == 5


def _link(case_id: str, report_id: str, typ: str, applied: bool, n: int) -> HistoryEntry:
    return HistoryEntry(
        event_id=f"{case_id}/{typ}/{n}",
        case_id=case_id,
        type=typ,
        time=T0 + timedelta(minutes=n),
        committee_id="a",
        data={"case_id": case_id, "committee_id": "a", "report_id": report_id},
        applied=applied,
    )


def test_reports_linked_by_the_history_are_listed_with_the_case(store: CaseStore) -> None:
    """Linking is another module's work: here the history entries are written directly, as
    the store would keep them, and only applied links that were not undone count."""
    from tests.casetools import dispute_report

    store.apply(
        [
            item("cases.routed", routed("c1", "a")),
            item("intake.disputes", dispute_report("c1")),
            item("intake.disputes", dispute_report("r-linked", time=T0 + timedelta(hours=3))),
            item("intake.disputes", dispute_report("r-refused")),
            item("intake.disputes", dispute_report("r-undone")),
        ]
    )
    entries = [
        _link("c1", "r-linked", "case.linked.v1", True, 1),
        _link("c1", "r-refused", "case.linked.v1", False, 2),
        _link("c1", "r-undone", "case.linked.v1", True, 3),
        _link("c1", "r-undone", "case.unlinked.v1", True, 4),
        _link("c1", "r-missing", "case.linked.v1", True, 5),
    ]
    if isinstance(store, MemoryStore):
        from consumers.store import _MemTx

        _MemTx(store._m).add_histories(entries)
    else:
        from consumers.db import _SqlTx

        with store.engine.begin() as conn:  # type: ignore[attr-defined]
            _SqlTx(conn).add_histories(entries)
    assert [r.report_id for r in store.reports_for_case("c1")] == ["c1", "r-linked"]
    assert [r.report_id for r in store.reports_for_case("r-linked")] == ["r-linked"]


def test_an_invalid_intake_message_is_skipped_without_a_dead_letter() -> None:
    from consumers.sink import decode_report
    from tests.casetools import dispute_report

    bad = dispute_report("rep-1")
    del bad["data"]["street"]
    assert decode_report("intake.disputes", 0, 1, json.dumps(bad).encode()) is None
    assert decode_report("intake.disputes", 0, 2, b"\xff not json") is None
    wrong_topic = json.dumps(dispute_report("rep-2")).encode()
    assert decode_report("intake.petitions", 0, 3, wrong_topic) is None
    future = dispute_report("rep-3", time=T0 + timedelta(hours=1))
    raw = json.dumps(future).encode()
    assert decode_report("intake.disputes", 0, 4, raw, now=T0) is None
    assert decode_report("intake.disputes", 0, 4, raw, now=T0 + timedelta(minutes=55)) is not None
