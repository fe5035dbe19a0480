"""A simulated year through the real pipeline: ``fengqiao simulate`` publishes to the real
broker, a real worker processes it, the sink writes it into the case store, and the ground
truth (the manifest) is checked against what came out.

Two years run:
- At full speed, onto a worker on the wall clock with an incident grace reaching back past
  2022: ``fengqiao report`` reads Kafka back and finds every planted case routed exactly once,
  nothing unplanted, no dead letter, the 14 planted incidents once each; the store holds every
  case of the manifest and no other, and the 14 incidents with their 187 workers.
- Paced, onto a worker on the stream clock (event time, the way a replayed year runs): then
  simulated mediators conclude every case through the inbox API and ``fengqiao report --from
  --to`` from the store equals the manifest. Pacing makes it take minutes on any machine, and
  the mediators' two actions per case (about 18,600 requests, each published and stored) took
  85 s at full scale on the 2-core development machine, more than the rest of the year.

CI runs both scaled to a tenth (842 disputes, 1,300 consultations, all 14 incidents: about
2,300 events). ``make year`` runs the first at full scale (22,300 events, under a minute) and
prints where the time went; ``make year-paced`` runs the second at full scale (~15 minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, settings_env

pytestmark = pytest.mark.kafka

SCALE = float(os.environ.get("FENGQIAO_TEST_SIM_SCALE", "0.1"))
# How long the paced year into the store takes to publish (wall seconds).
# The full year: about 30 events a second, well inside what one worker keeps up with; the tenth
# CI runs goes at about 25 a second, still slower than the full year's pace.
YEAR_WALL_S = float(os.environ.get("FENGQIAO_TEST_YEAR_WALL_S", "90" if SCALE < 0.5 else "720"))
FIGURES = (
    "disputes_mediated",
    "amount_yuan",
    "success_rate",
    "consultations",
    "group_wage_incidents",
    "group_wage_people",
    "online_share",
)


def _say(line: str) -> None:
    """A progress line (``make year`` runs pytest with ``-s``, so it shows as it happens)."""
    print(f"[year x{SCALE:g}] {line}", flush=True)


def _simulate(env: dict[str, str], manifest: Path, *extra: str, timeout_s: float) -> Any:
    """``fengqiao simulate`` of seed 3 at SCALE; its progress lines (every 5 s, on stderr) are
    passed on to the test's output as they come."""
    cli = [sys.executable, "-m", "fengqiao", "simulate", "--seed", "3", "--scale", str(SCALE)]
    proc = subprocess.Popen(
        [*cli, "--manifest", str(manifest), *extra],
        env=env | {"COLUMNS": "200"},  # one line per progress line, not wrapped at 80
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: deque[str] = deque(maxlen=40)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            _say(line.rstrip())
        returncode = proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert returncode == 0, "".join(tail)
    m = json.loads(manifest.read_text())
    assert m["publishing"] == {
        "sent": m["events"]["total"],
        "failed": 0,
        "wall_seconds": m["publishing"]["wall_seconds"],
    }
    return m


def _assert_counted_exactly_once(rows: dict[str, Any], m: dict[str, Any]) -> None:
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


class _Store:
    """The test's case store (SQLite), counted as the sink fills it."""

    def __init__(self, s: Settings) -> None:
        from consumers.db import SqlStore

        self.s = s
        self.store = SqlStore.open(s.effective_database_url())

    def count(self, sql: str) -> int:
        from sqlalchemy import text

        with self.store.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    def wait_stored(self, m: dict[str, Any]) -> None:
        from tests.casetools import wait_until

        total = m["cases"]["total"]
        wait_until(lambda: self.count("SELECT COUNT(*) FROM cases") >= total, 900, "cases stored")
        wait_until(
            lambda: (
                self.count("SELECT COUNT(*) FROM incidents") >= m["incidents"]["group_wage"]
                and self.count("SELECT COALESCE(SUM(people), 0) FROM incidents")
                >= m["incidents"]["group_wage_workers"]
            ),
            300,
            "incidents stored with their workers",
        )

    def assert_holds_the_year(self, m: dict[str, Any]) -> None:
        """Every case of the manifest, of its kind, and no other; the planted group wage
        incidents with their workers, and no other incident."""
        from sqlalchemy import text

        with self.store.engine.connect() as conn:
            stored = {(k, c) for c, k in conn.execute(text("SELECT case_id, kind FROM cases"))}
            incidents = list(conn.execute(text("SELECT rule_id, people, case_ids FROM incidents")))
        planted = {(k, c) for k, ids in m["case_ids"].items() for c in ids}
        assert len(planted) == m["cases"]["total"]
        missing, extra = planted - stored, stored - planted
        assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
        assert (
            sorted(r for r, _, _ in incidents) == ["wage_employer"] * m["incidents"]["group_wage"]
        )
        assert sum(p for _, p, _ in incidents) == m["incidents"]["group_wage_workers"]
        # each stored incident is one planted incident, with exactly its claims
        claims = sorted(sorted(json.loads(ids) if isinstance(ids, str) else ids)
                        for _, _, ids in incidents)  # fmt: skip
        assert claims == sorted(sorted(g["case_ids"]) for g in m["incidents"]["planted"])

    def conclude_everything(self, m: dict[str, Any]) -> None:
        """Simulated mediators accept and conclude every case through the inbox API, once the
        year is in (the whole year is due); returns when the store has every conclusion."""
        import threading

        import httpx

        from consumers.api import create_app
        from consumers.lifecycle import KafkaLifecyclePublisher
        from fengqiao.cli.simulate_cmd import store_mint
        from fengqiao.metrics_wiring import kafka_access
        from fengqiao.wiring import api_config, publisher_config
        from producers.groundtruth import run_pattern
        from producers.mediators import CommitteeTokens, MediatorPlan, Mediators, RoutedFeed
        from producers.simulator import profile, simulate
        from tests.casetools import wait_until
        from tests.httptools import serve

        s = self.s
        year = simulate(profile("longwan-2022", SCALE), seed=3)
        assert year.run == m["run"]
        kafka = kafka_access(s)
        feed = RoutedFeed(kafka.topic("cases.routed"), kafka.bootstrap_servers, {})
        pattern = run_pattern(year.run)
        tokens = CommitteeTokens(feed, lambda cid: bool(pattern.match(cid)), store_mint(s))
        publisher = KafkaLifecyclePublisher(publisher_config(s))
        try:
            with serve(create_app(api_config(s), self.store, publisher)) as api:
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
        finally:
            publisher.close()
        total = m["cases"]["total"]
        wait_until(
            lambda: (
                self.count("SELECT COUNT(*) FROM cases WHERE concluded_at IS NOT NULL") >= total
            ),
            300,
            "conclusions stored",
        )

    def close(self) -> None:
        self.store.close()


def _assert_store_report_equals_manifest(env: dict[str, str], manifest: Path) -> str:
    """``fengqiao report --from --to`` from the store equals the manifest; returns its figures
    as one line."""
    rep = subprocess.run(
        [sys.executable, "-m", "fengqiao", "report", "--from", "2022-01-01", "--to",
         "2022-12-31", "--manifest", str(manifest), "--format", "json", "--intake"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    body = json.loads(rep.stdout)
    checks = {c["figure"]: c for c in body["ground_truth"]}
    figures = {f["key"]: f["value"] for f in body["figures"]}
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
    return ", ".join(f"{k} {figures[k]}" for k in FIGURES)


def test_simulated_year_end_to_end_is_counted_once_and_stored(
    kafka_settings: Settings, replay_worker: WorkerProcess, tmp_path: Path
) -> None:
    """The year at full speed: published, routed and counted exactly once, and in the store
    (the sink) case for case and incident for incident as the manifest planted them."""
    from tests.casetools import SinkProcess, sink_env

    s = kafka_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}"})
    env = settings_env(s)
    manifest = tmp_path / "manifest.json"
    store = _Store(s)
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(500))
    started = time.monotonic()
    try:
        sink.start()
        m = _simulate(env, manifest, timeout_s=600)
        published = time.monotonic() - started
        _say(f"published {m['events']['total']:,} events in {published:.1f} s")
        rep = subprocess.run(
            [sys.executable, "-m", "fengqiao", "report", "--manifest", str(manifest),
             "--wait", "600", "--settle", "3", "--json"],
            env=env, capture_output=True, text=True, timeout=700,
        )  # fmt: skip
        counted = time.monotonic() - started
        _say(f"counted exactly once by the pipeline after {counted:.1f} s")
        assert rep.returncode == 0, rep.stdout + rep.stderr
        _assert_counted_exactly_once({r["check"]: r for r in json.loads(rep.stdout)}, m)
        assert replay_worker.stats()["dead_letters"] == 0
        store.wait_stored(m)
        store.assert_holds_the_year(m)
    finally:
        sink.stop()
        store.close()
    total = time.monotonic() - started
    _say(
        f"{m['cases']['total']:,} cases and {m['incidents']['group_wage']} incidents in the "
        f"store, as planted, after {total:.1f} s"
    )
    _say(
        f"timing: publish {published:.1f} s, pipeline {counted - published:.1f} s "
        f"(counted at {counted:.1f} s), store {total - counted:.1f} s more, total {total:.1f} s"
    )


@pytest.mark.timeout(YEAR_WALL_S + 3600)
def test_paced_year_on_the_stream_clock_lands_in_the_store_and_the_report_equals_the_manifest(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """The year through a worker on the stream clock (a replayed year's windows are its own
    time) and the sink; then simulated mediators conclude every case through the inbox API,
    and ``fengqiao report --from --to`` from the store equals the manifest."""
    from tests.casetools import SinkProcess, sink_env

    s = kafka_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'cases.db'}", "clock": "stream"}
    )
    env = settings_env(s)
    store = _Store(s)
    worker = WorkerProcess(s, tmp_path / "worker.log")
    sink = SinkProcess(s, tmp_path / "sink.log", extra_env=sink_env(500))
    manifest = tmp_path / "manifest.json"
    started = time.monotonic()
    try:
        worker.start()
        sink.start()
        # Paced: the worker's stream clock is the newest event it has seen, and a claim more
        # than a window behind it is late; a year published in seconds leaves the incident
        # agent's input behind the intake agent's clock by months.
        speed = str(int(366 * 86400 / YEAR_WALL_S))
        m = _simulate(env, manifest, "--speed", speed, timeout_s=YEAR_WALL_S + 900)
        _say(f"paced year published in {time.monotonic() - started:.0f} s")
        store.wait_stored(m)
        stored = time.monotonic() - started
        # The mediators work once the year is in: their actions happen now, and on the
        # stream clock a 2026 action would close every 2022 window still open.
        store.conclude_everything(m)
        figures = _assert_store_report_equals_manifest(env, manifest)
    finally:
        sink.stop()
        worker.stop()
        store.close()
    _say(
        f"paced year in the store after {stored:.0f} s, concluded and reported after "
        f"{time.monotonic() - started:.0f} s: {figures}"
    )
