"""``fengqiao replay`` over a whole simulated year on the real broker: it reads every message
of the intake history (more than one poll's worth, on every partition), counts the duplicates
and the invalid ones, and its what-if diff is the one the two routers give on the year's cases
computed in process. Counts only: the rate is measured in the performance notes, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fengqiao.replay import RECORDS_PER_POLL
from fengqiao.settings import Settings
from tests.kafkatools import settings_env
from tests.rulesettools import write_candidate_500k

pytestmark = pytest.mark.kafka


def test_replay_reads_every_event_of_a_year_and_diffs_like_the_routers(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    from producers.sdk import Publisher
    from producers.simulator import profile, simulate
    from schemas.parse import parse_event
    from streams.cases import case_from_event
    from streams.routing import load_router
    from streams.whatif import compare

    candidate = write_candidate_500k(tmp_path)

    year = simulate(profile("longwan-2022", 1.0), seed=4, run="rp-test")
    events = year.events
    assert len(events) > 2 * RECORDS_PER_POLL  # several polls, not one
    with Publisher(kafka_settings, linger_ms=20) as pub:
        futures = [pub.send(ev.envelope, ev.kind)[1] for ev in events]
        # the same two events again (a producer's retry): read, but counted once
        futures += [pub.send(ev.envelope, ev.kind)[1] for ev in events[:2]]
        futures.append(pub.send_raw("intake.petitions", b'{"id": "broken"'))
        pub.flush()
    assert not [f for f in futures if f.failed()]

    proc = subprocess.run(
        [sys.executable, "-m", "fengqiao", "replay", "--ruleset", str(candidate), "--json",
         "--timeout", "300"],
        env=settings_env(kafka_settings), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])

    consultations = sum(1 for ev in events if ev.kind == "consultation")
    assert report["read"] == {
        "messages": len(events) + 3,
        "invalid": 1,
        "duplicates": 2,
        "no_case": consultations,
        "topics_missing": [],
    }
    assert report["cases"] == year.manifest.cases.total == len(events) - consultations
    assert report["events_per_s"] > 0

    cases = [case_from_event(parse_event(ev.envelope)) for ev in events]
    want = compare(
        [c for c in cases if c is not None],
        load_router(kafka_settings.ruleset_path, kafka_settings.catalogue_path),
        load_router(candidate, kafka_settings.catalogue_path),
    ).to_dict()
    assert want["moved"] > 0  # the candidate moves some of the year's cases
    for key in ("current", "candidate", "cases", "moved", "rule_only"):
        assert report[key] == want[key], key

    def moves(d: dict[str, Any]) -> dict[tuple[str, str], tuple[int, list[Any]]]:
        # rules of equal count come in the order they were met, which the read order decides
        return {
            (m["from"], m["to"]): (
                m["count"],
                sorted((r["from_rule"], r["to_rule"], r["count"]) for r in m["rules"]),
            )
            for m in d["moves"]
        }

    assert moves(report) == moves(want)
