"""A simulated year through the real pipeline: ``fengqiao simulate`` publishes to the real
broker, a real worker processes it, ``fengqiao report`` reads everything back and agrees with
the ground truth — every planted case routed exactly once, nothing unplanted, no dead letter.

CI runs the profile scaled to a tenth (842 disputes, 1,300 consultations, all 14 incidents:
about 2,300 events, ~25 s). The full year (22,300 events) took 91 s to 250 s end to end on
the shared 2-core development machine (publishing 37-65 s, the worker ~100-270 events/s):
``make year`` runs it (``FENGQIAO_TEST_SIM_SCALE=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, settings_env

pytestmark = pytest.mark.kafka

SCALE = float(os.environ.get("FENGQIAO_TEST_SIM_SCALE", "0.1"))
# How long the paced year into the store takes to publish (wall seconds).
# The full year: about 30 events a second, well inside what one worker keeps up with; the tenth
# CI runs goes at about 18 a second, still slower than the full year's pace.
YEAR_WALL_S = float(os.environ.get("FENGQIAO_TEST_YEAR_WALL_S", "120" if SCALE < 0.5 else "720"))


def test_simulated_year_is_counted_exactly_once(
    kafka_settings: Settings, replay_worker: WorkerProcess, tmp_path: Path
) -> None:
    env = settings_env(kafka_settings)
    manifest = tmp_path / "manifest.json"
    cli = [sys.executable, "-m", "fengqiao"]
    started = time.monotonic()
    sim = subprocess.run(
        [*cli, "simulate", "--seed", "3", "--scale", str(SCALE), "--manifest", str(manifest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sim.returncode == 0, sim.stderr
    published = time.monotonic() - started
    m = json.loads(manifest.read_text())
    assert m["publishing"] == {
        "sent": m["events"]["total"],
        "failed": 0,
        "wall_seconds": m["publishing"]["wall_seconds"],
    }
    rep = subprocess.run(
        [*cli, "report", "--manifest", str(manifest), "--wait", "600", "--settle", "3", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=700,
    )
    elapsed = time.monotonic() - started
    rows = {r["check"]: r for r in json.loads(rep.stdout)}
    print(
        f"\nsimulated year at scale {SCALE}: {m['events']['total']} events published in "
        f"{published:.1f} s, counted by the pipeline after {elapsed:.1f} s"
    )
    assert rep.returncode == 0, rep.stdout + rep.stderr
    cases = m["cases"]["by_kind"]
    assert rows["disputes routed"]["counted"] == f"{cases['dispute']:,}"
    if SCALE == 1:
        assert cases["dispute"] == 8418 and rows["disputes routed"]["published"] == "8,418"
    assert rows["petitions routed"]["counted"] == f"{cases['petition']:,}"
    assert rows["wage claims routed"]["counted"] == f"{cases['wage_arrears']:,}"
    for check in (
        "planted cases never routed",
        "routed cases not planted",
        "repeated routing messages (sinks dedupe)",
        "dead letters",
    ):
        assert rows[check]["counted"] == "0", check
        assert rows[check]["status"] == "ok", check
    for kind, n in m["events"]["by_kind"].items():
        assert rows[f"{kind} events on intake"]["counted"] == f"{n:,}"
    assert rows["consultations counted by the worker"]["counted"] == f"{m['consultations']:,}"
    assert replay_worker.stats()["dead_letters"] == 0
    # The oversight agents find the 14 planted group wage incidents with their 187 workers,
    # each exactly once, and no other rule fires on the background.
    for rule in (
        "dispute_collective",
        "dispute_respondent",
        "petition_collective",
        "petition_matter",
    ):
        assert rows[f"incidents {rule}"]["counted"] == "0"
    assert rows["group wage incidents"]["counted"] == "14"
    assert rows["workers in group wage incidents"]["counted"] == "187"
    assert rows["planted incidents found exactly once"]["counted"] == "14"
    incident_rows = [c for c in rows if "incident" in c]
    assert len(incident_rows) >= 7, incident_rows
    assert all(rows[c]["status"] == "ok" for c in incident_rows), {
        c: rows[c] for c in incident_rows
    }


@pytest.mark.timeout(YEAR_WALL_S + 3600)
def test_simulated_year_lands_in_the_store_and_the_report_equals_the_manifest(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """The year through a worker on the stream clock (a replayed year's windows are its own
    time) and the sink; then simulated mediators conclude every case through the inbox API,
    and ``fengqiao report --from --to`` from the store equals the manifest."""
    import threading

    import httpx
    from sqlalchemy import text

    from consumers.api import create_app
    from consumers.db import SqlStore
    from consumers.lifecycle import KafkaLifecyclePublisher
    from fengqiao.cli.simulate_cmd import store_mint
    from fengqiao.metrics_wiring import kafka_access
    from fengqiao.wiring import api_config, publisher_config
    from producers.groundtruth import run_pattern
    from producers.mediators import CommitteeTokens, MediatorPlan, Mediators, RoutedFeed
    from producers.simulator import profile, simulate
    from tests.casetools import SinkProcess, sink_env, wait_until
    from tests.httptools import serve

    s = kafka_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}", "clock": "stream"}
    )
    env = settings_env(s)
    store = SqlStore.open(s.effective_database_url())
    worker = WorkerProcess(s, tmp_path / "worker.log")
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(500))
    publisher = KafkaLifecyclePublisher(publisher_config(s))
    manifest = tmp_path / "manifest.json"
    cli = [sys.executable, "-m", "fengqiao"]
    started = time.monotonic()

    def count(sql: str) -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    try:
        worker.start()
        sink.start()
        # Paced: the worker's stream clock is the newest event it has seen, and a claim more
        # than a window behind it is late; a year published in seconds leaves the incident
        # agent's input behind the intake agent's clock by months.
        speed = str(int(366 * 86400 / YEAR_WALL_S))
        sim = subprocess.run(
            [*cli, "simulate", "--seed", "3", "--scale", str(SCALE), "--manifest", str(manifest),
             "--speed", speed],
            env=env, capture_output=True, text=True, timeout=YEAR_WALL_S + 900,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stdout[-2000:] + sim.stderr[-2000:]
        m = json.loads(manifest.read_text())
        total = m["cases"]["total"]
        wait_until(lambda: count("SELECT COUNT(*) FROM cases") >= total, 900, "cases stored")
        wait_until(
            lambda: count("SELECT COUNT(*) FROM incidents") >= m["incidents"]["group_wage"],
            300,
            "incidents stored",
        )
        stored = time.monotonic() - started
        # The mediators work once the year is in: their actions happen now, and on the
        # stream clock a 2026 action would close every 2022 window still open.
        year = simulate(profile("longwan-2022", SCALE), seed=3)
        assert year.run == m["run"]
        kafka = kafka_access(s)
        feed = RoutedFeed(kafka.topic("cases.routed"), kafka.bootstrap_servers, {})
        pattern = run_pattern(year.run)
        tokens = CommitteeTokens(feed, lambda cid: bool(pattern.match(cid)), store_mint(s))
        with serve(create_app(api_config(s), store, publisher)) as api:
            crew = Mediators(
                httpx.Client(base_url=api, timeout=30.0),
                MediatorPlan.from_simulation(year.events, year.manifest),
                tokens,
                lambda: None,  # the whole year is due
            )
            crew.grace_s = 900
            stop = threading.Event()
            stop.set()
            crew.run(stop, poll_s=0.5)
            tokens.close()
            assert crew.finished(), crew.stats
        wait_until(
            lambda: count("SELECT COUNT(*) FROM cases WHERE concluded_at IS NOT NULL") >= total,
            300,
            "conclusions stored",
        )
        rep = subprocess.run(
            [*cli, "report", "--from", "2022-01-01", "--to", "2022-12-31", "--manifest",
             str(manifest), "--format", "json", "--intake"],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        publisher.close()
        sink.stop()
        worker.stop()
        store.close()
    body = json.loads(rep.stdout)
    checks = {c["figure"]: c for c in body["ground_truth"]}
    figures = {f["key"]: f["value"] for f in body["figures"]}
    print(
        f"\nsimulated year at scale {SCALE}: in the store after {stored:.0f} s, concluded and "
        f"reported after {time.monotonic() - started:.0f} s: "
        + ", ".join(
            f"{k} {figures[k]}"
            for k in (
                "disputes_mediated",
                "amount_yuan",
                "success_rate",
                "consultations",
                "group_wage_incidents",
                "group_wage_people",
                "online_share",
            )
        )  # fmt: skip
    )
    assert rep.returncode == 0, json.dumps(body["ground_truth"], ensure_ascii=False)
    assert all(c["ok"] for c in checks.values())
    for key in ("disputes_mediated", "amount_yuan", "success_rate", "consultations",
                "group_wage_incidents", "group_wage_people"):  # fmt: skip
        assert key in checks, key
    if SCALE == 1:
        assert figures["disputes_mediated"] == 8418
        assert figures["success_rate"] == 99.96
        assert figures["consultations"] == 13000
        assert (figures["group_wage_incidents"], figures["group_wage_people"]) == (14, 187)
