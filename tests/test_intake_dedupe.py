"""Dedupe in the intake processor: true duplicates dropped, redeliveries processed again."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from producers.sample import dispute
from streams.intake import IntakeProcessor
from streams.routing import load_router

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


def test_expire_forgets_ids_older_than_the_horizon() -> None:
    seen: dict = {}
    p = IntakeProcessor(load_router(), seen, dedupe_horizon=timedelta(days=7))
    p.handle(_raw("old", NOW - timedelta(days=10)), "intake.disputes", 0, 1, NOW)
    p.handle(_raw("new", NOW - timedelta(days=1)), "intake.disputes", 0, 2, NOW)
    assert p.expire(NOW) == 1
    assert set(seen) == {"new"}
