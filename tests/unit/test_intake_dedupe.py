"""Dedupe in the intake processor: true duplicates dropped, redeliveries processed again."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from producers.sample import dispute
from streams.intake import IntakeProcessor
from streams.routing import load_router
from streams.seen import SeenIds, row_partition

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _raw(event_id: str, when: datetime = NOW - timedelta(hours=1)) -> bytes:
    return json.dumps(dispute(random.Random(3), event_id, when, street="haibin")).encode()


def test_same_id_in_another_message_is_a_duplicate_and_not_routed_again() -> None:
    p = IntakeProcessor(load_router(), {})
    first = p.handle(_raw("d-1"), "intake.disputes", 0, 10, NOW)
    again = p.handle(_raw("d-1"), "intake.disputes", 0, 11, NOW)
    assert [o.topic for o in first.outs] == ["cases.routed"]
    assert again.duplicate and again.outs == [] and again.case is None
    assert p.stats.duplicates == 1 and p.stats.routed == 1


def test_redelivered_message_is_processed_again_with_identical_output() -> None:
    """After a crash before the commit, the same offset comes again: its outputs may be lost,
    so they are produced again, with the same ids (at-least-once, idempotent downstream)."""
    seen: dict = {}
    p = IntakeProcessor(load_router(), seen)
    first = p.handle(_raw("d-2"), "intake.disputes", 1, 7, NOW)
    restarted = IntakeProcessor(load_router(), seen)  # the table recovered from its changelog
    again = restarted.handle(_raw("d-2"), "intake.disputes", 1, 7, NOW)
    assert not again.duplicate
    assert again.outs == first.outs
    assert again.case == first.case
    assert restarted.stats.duplicates == 0


def test_duplicate_outside_the_horizon_is_a_new_event() -> None:
    p = IntakeProcessor(load_router(), {}, dedupe_horizon=timedelta(days=7))
    p.handle(_raw("d-3", NOW - timedelta(days=20)), "intake.disputes", 0, 1, NOW)
    later = p.handle(_raw("d-3", NOW - timedelta(days=2)), "intake.disputes", 0, 2, NOW)
    assert not later.duplicate and later.outs


def _apply(rows: dict, taken: list) -> None:
    """What the worker does with ``take``'s rows: write them to the table."""
    rows.update(taken)


def test_ids_are_stored_as_one_row_per_partition_and_batch_and_survive_a_restart() -> None:
    rows: dict = {}
    seen = SeenIds(rows)
    p = IntakeProcessor(load_router(), seen)
    for i in range(5):
        p.handle(_raw(f"b-{i}"), "intake.disputes", i % 2, 100 + i, NOW)
    assert p.handle(_raw("b-0"), "intake.disputes", 1, 200, NOW).duplicate  # within the batch
    taken = seen.take()
    assert sorted(k for k, _ in taken) == ["0:intake.disputes:100", "1:intake.disputes:101"]
    assert {r["p"]: sorted(r["ids"]) for _, r in taken} == {
        0: ["b-0", "b-2", "b-4"],
        1: ["b-1", "b-3"],
    }
    assert seen.take() == []  # taken once
    _apply(rows, taken)
    # a restarted worker: the table recovered from its changelog, the index rebuilt from it
    restarted = IntakeProcessor(load_router(), SeenIds(rows))
    assert restarted.handle(_raw("b-3"), "intake.disputes", 0, 300, NOW).duplicate
    again = restarted.handle(_raw("b-4"), "intake.disputes", 0, 104, NOW)
    assert not again.duplicate and again.outs  # the same message redelivered: processed again


def test_buckets_hold_at_most_bucket_max_ids() -> None:
    seen = SeenIds({}, bucket_max=2)
    for i in range(5):
        seen[f"x-{i}"] = [1000.0 + i, "intake.disputes", 3, 50 + i]
    taken = seen.take()
    assert [len(r["ids"]) for _, r in taken] == [2, 2, 1]
    assert len({k for k, _ in taken}) == 3
    assert [r["ts"] for _, r in taken] == [1001.0, 1003.0, 1004.0]


def test_expire_drops_rows_whose_newest_id_is_older_than_the_horizon() -> None:
    rows: dict = {}
    seen = SeenIds(rows)
    p = IntakeProcessor(load_router(), seen, dedupe_horizon=timedelta(days=7))
    p.handle(_raw("old", NOW - timedelta(days=10)), "intake.disputes", 0, 1, NOW)
    _apply(rows, seen.take())
    p.handle(_raw("new", NOW - timedelta(days=1)), "intake.disputes", 0, 2, NOW)
    _apply(rows, seen.take())
    keys, dropped = seen.expire((NOW - timedelta(days=7)).timestamp())
    assert keys == ["0:intake.disputes:1"] and dropped == 1
    assert set(seen) == {"new"}
    for k in keys:
        del rows[k]
    assert set(SeenIds(rows)) == {"new"}


def test_rows_of_the_old_layout_are_read_and_expired() -> None:
    t = (NOW - timedelta(days=10)).timestamp()
    rows: dict = {"legacy-1": [t, "intake.disputes", 2, 9]}
    seen = SeenIds(rows)
    assert seen.get("legacy-1") == [t, "intake.disputes", 2, 9]
    assert row_partition("legacy-1", rows["legacy-1"]) == 2
    assert seen.expire((NOW - timedelta(days=7)).timestamp()) == (["legacy-1"], 1)
    assert seen.get("legacy-1") is None


def test_invalidate_rebuilds_the_index_and_the_newer_entry_of_an_id_wins() -> None:
    rows: dict = {}
    seen = SeenIds(rows)
    assert seen.get("r-1") is None
    rows["0:intake.disputes:1"] = {
        "p": 0,
        "ts": 10.0,
        "ids": {"r-1": [10.0, "intake.disputes", 0, 1]},
    }
    rows["0:intake.disputes:9"] = {
        "p": 0,
        "ts": 90.0,
        "ids": {"r-1": [90.0, "intake.disputes", 0, 9]},
    }
    assert seen.get("r-1") is None  # rows changed underneath: not seen until invalidated
    seen.invalidate()
    assert seen.get("r-1") == [90.0, "intake.disputes", 0, 9]
